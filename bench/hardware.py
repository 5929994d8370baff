"""Benchmark the hardware layer: thermometer latency over a real pty and a real broker, unplug
detection, wire-decoder throughput, and the camera simulator's frames (cost, zxing-cpp read rate).

Prints markdown tables. Starts its own Mosquitto on a free port.

    .venv/bin/python bench/hardware.py --seconds 4
"""

from __future__ import annotations

import argparse
import logging
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

import numpy as np  # noqa: E402
import zxingcpp  # noqa: E402

from hardware.camera.simulated import SimulatedCamera, SimulatedCameraConfig  # noqa: E402
from hardware.thermometer.mqtt_topic import MqttThermometer, MqttThermometerConfig  # noqa: E402
from hardware.thermometer.serial_line import SerialThermometer, SerialThermometerConfig  # noqa: E402
from hardware.thermometer.simulated_mqtt import MqttThermometerSimulator  # noqa: E402
from hardware.thermometer.simulated_serial import BYTE_TIME_9600_S, PtyThermometerSimulator  # noqa: E402
from protocols.thermometer_wire import (  # noqa: E402
    AsciiLineDecoder,
    BinaryFrameDecoder,
    encode_ascii_line,
    encode_frame,
)
from demo.processes import start_mosquitto  # noqa: E402

BASE45 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"


def pct(values: list[float], q: float) -> float:
    """The q-quantile (0-1) of values."""
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def serial_latency(tmp: Path, wire_format: str, byte_time_s: float, seconds: float) -> dict[str, float]:
    """Last byte written -> reading recorded, and first byte -> recorded, in ms, over a real pty."""
    link = tmp / f"tty-{wire_format}-{byte_time_s}"
    sim = PtyThermometerSimulator(link, wire_format=wire_format, interval_s=0.05, byte_time_s=byte_time_s).start()
    thermo = SerialThermometer(SerialThermometerConfig(port=str(link), wire_format=wire_format))
    arrivals: list[float] = []
    thermo.add_listener(lambda r: arrivals.append(r.at_monotonic))
    thermo.open()
    time.sleep(0.3)  # let the driver's first reads settle
    arrivals.clear()
    first = len(sim.message_times)
    time.sleep(seconds)
    thermo.close()
    sim.stop()
    sent = list(sim.message_times)[first:]
    after_last, after_first = [], []
    for t in arrivals:
        # the last message that had begun before this reading arrived (its end may be logged
        # a hair after the driver already saw it: both threads run at once)
        candidates = [m for m in sent if m[0] <= t]
        if candidates:
            start, end = candidates[-1]
            after_last.append((t - end) * 1000)
            after_first.append((t - start) * 1000)
    return {"n": len(after_last), "last_med": statistics.median(after_last), "last_p99": pct(after_last, 0.99),
            "first_med": statistics.median(after_first)}


def unplug_detection(tmp: Path, rounds: int) -> dict[str, float]:
    """Unplug -> driver reports disconnected, and replug -> first fresh reading, in ms."""
    link = tmp / "tty-unplug"
    sim = PtyThermometerSimulator(link, wire_format="binary", interval_s=0.05).start()
    thermo = SerialThermometer(SerialThermometerConfig(port=str(link), wire_format="binary",
                                                       retry_delay_s=0.05, max_backoff_s=0.2))
    thermo.open()
    lost, back = [], []
    for _ in range(rounds):
        time.sleep(0.2)
        t0 = time.monotonic()
        sim.unplug()
        while thermo.connected:
            time.sleep(0.001)
        lost.append((time.monotonic() - t0) * 1000)
        time.sleep(0.1)
        t1 = time.monotonic()
        sim.replug()
        while (r := thermo.latest(1.0)) is None or r.at_monotonic < t1:
            time.sleep(0.001)
        back.append((time.monotonic() - t1) * 1000)
    thermo.close()
    sim.stop()
    return {"lost_med": statistics.median(lost), "lost_max": max(lost),
            "back_med": statistics.median(back), "back_max": max(back)}


def mqtt_latency(tmp: Path, seconds: float) -> dict[str, float]:
    """Simulator publish -> reading recorded through Mosquitto (QoS 1), in ms, by the device's own time."""
    broker = start_mosquitto(tmp)
    topic = "checkpoint/v1/bench/gate/thermometer"
    try:
        thermo = MqttThermometer(MqttThermometerConfig(host=broker.host, port=broker.port, topic=topic))
        delays: list[float] = []
        # The payload's "at" is the publisher's wall clock, same machine: receive - at is the trip.
        thermo.add_listener(lambda r: delays.append(
            (time.time() - r.at_wallclock.timestamp()) * 1000))
        thermo.open()
        with MqttThermometerSimulator(broker.host, broker.port, topic, interval_s=0.01):
            time.sleep(seconds)
        thermo.close()
    finally:
        broker.stop()
    return {"n": len(delays), "med": statistics.median(delays), "p99": pct(delays, 0.99)}


def decoder_throughput(messages: int = 50_000) -> list[tuple[str, float]]:
    """Readings per second the pure decoders sustain, clean and with garbage between messages."""
    rng = random.Random(1)
    rows = []
    for name, encode, make in (("binary frame", lambda c: encode_frame(c), BinaryFrameDecoder),
                               ("ascii line", lambda c: encode_ascii_line(c), AsciiLineDecoder)):
        for noisy in (False, True):
            parts = []
            for _ in range(messages):
                if noisy:
                    parts.append(rng.randbytes(rng.randint(0, 8)).replace(b"\n", b""))
                parts.append(encode(36.6))
            stream = b"".join(parts)
            decoder = make()
            start = time.perf_counter()
            for i in range(0, len(stream), 64):  # serial reads come in small chunks
                decoder.feed(stream[i : i + 64])
            elapsed = time.perf_counter() - start
            rows.append((f"{name}{', garbage between' if noisy else ''}", decoder.stats.readings / elapsed))
    return rows


def camera_frames(codes: int, length: int) -> dict[str, float]:
    """Simulator cost per frame (empty, with a code) and zxing-cpp's read rate on its code frames."""
    cam = SimulatedCamera(SimulatedCameraConfig(fps=60, seed=2))
    cam.open()
    now = time.monotonic()
    start = time.perf_counter()
    for _ in range(100):
        cam._frame(now)
    empty_ms = (time.perf_counter() - start) * 10
    rng = random.Random(3)
    read = total = 0
    code_ms = []
    for _ in range(codes):
        text = "HC1:" + "".join(rng.choice(BASE45) for _ in range(length - 4))
        cam.present(text, seconds=3600)
        for _ in range(3):
            start = time.perf_counter()
            frame = cam._frame(time.monotonic())
            code_ms.append((time.perf_counter() - start) * 1000)
            found = zxingcpp.read_barcodes(frame, formats=zxingcpp.BarcodeFormat.QRCode)
            total += 1
            read += any(r.text == text for r in found)
    assert isinstance(frame, np.ndarray)
    return {"empty_ms": empty_ms, "code_ms": statistics.median(code_ms), "read_pct": 100 * read / total,
            "frames": total}


def main() -> None:
    """Run every measurement and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=4.0, help="seconds per latency run")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)  # the unplug rounds log a warning each: expected
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        print("| thermometer path | readings | arrival after last byte, median (p99) ms | after first byte, median ms |")
        print("|---|---|---|---|")
        for wire_format in ("ascii", "binary"):
            for label, byte_time in (("paced 9600 baud", BYTE_TIME_9600_S), ("unpaced pty", 0.0)):
                r = serial_latency(tmp, wire_format, byte_time, args.seconds)
                print(f"| serial {wire_format}, {label} | {r['n']} | {r['last_med']:.2f} ({r['last_p99']:.2f}) "
                      f"| {r['first_med']:.2f} |")
        m = mqtt_latency(tmp, args.seconds)
        print(f"| MQTT JSON via Mosquitto, QoS 1 | {m['n']} | {m['med']:.2f} ({m['p99']:.2f}) | - |")
        print()
        u = unplug_detection(tmp, rounds=10)
        print("| serial unplug (10 rounds) | median ms | max ms |")
        print("|---|---|---|")
        print(f"| unplug -> reported disconnected | {u['lost_med']:.1f} | {u['lost_max']:.1f} |")
        print(f"| replug -> first fresh reading (backoff 0.05-0.2 s) | {u['back_med']:.1f} | {u['back_max']:.1f} |")
    print()
    print("| wire decoder (64-byte chunks) | readings/s |")
    print("|---|---|")
    for name, rate in decoder_throughput():
        print(f"| {name} | {rate:,.0f} |")
    print()
    c = camera_frames(codes=30, length=300)
    c600 = camera_frames(codes=30, length=600)
    print("| camera simulator, 640x480 | ms/frame | zxing-cpp read |")
    print("|---|---|---|")
    print(f"| empty scene + noise | {c['empty_ms']:.2f} | - |")
    print(f"| 300-char code held up | {c['code_ms']:.2f} | {c['read_pct']:.0f}% of {c['frames']} |")
    print(f"| 600-char code held up | {c600['code_ms']:.2f} | {c600['read_pct']:.0f}% of {c600['frames']} |")


if __name__ == "__main__":
    main()
