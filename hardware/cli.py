"""`checkpoint hardware`: check each device on site, one command per kind, and run simulators."""

from __future__ import annotations

import time
from pathlib import Path

import click

from hardware.thermometer.base import Reading
from protocols.errors import DeviceError


def _fail(exc: DeviceError) -> None:
    raise click.ClickException(f"{exc.reason}: {exc}")


@click.group()
def hardware() -> None:
    """Check devices on site and run device simulators.

    Example: checkpoint hardware thermometer /dev/ttyUSB0 --wire-format binary
    """


@hardware.command()
@click.argument("port")
@click.option("--wire-format", type=click.Choice(["ascii", "binary"]), default="ascii", show_default=True)
@click.option("--pattern", default=None, help="Regex for ASCII lines (group 'celsius' holds the value).")
@click.option("--baudrate", type=int, default=9600, show_default=True)
@click.option("--offset", type=float, default=0.0, show_default=True, help="Calibration offset in °C.")
@click.option("--seconds", type=float, default=10.0, show_default=True, help="How long to listen.")
def thermometer(port: str, wire_format: str, pattern: str | None, baudrate: int, offset: float,
                seconds: float) -> None:
    """Print every reading a serial thermometer sends, then what the decoder threw away.

    Example: checkpoint hardware thermometer /dev/serial/by-id/usb-1a86-port0 --seconds 5
    """
    from hardware.thermometer.serial_line import SerialThermometer, SerialThermometerConfig

    extra = {"pattern": pattern} if pattern else {}
    device = SerialThermometer(SerialThermometerConfig(port=port, wire_format=wire_format, baudrate=baudrate,
                                                       calibration_offset_c=offset, **extra))

    def show(r: Reading) -> None:
        raw = r.raw.hex(" ") if wire_format == "binary" else repr(r.raw)
        flag = "ok" if r.plausible else "超出范围 out of range"
        click.echo(f"{r.at_wallclock:%H:%M:%S.%f} {r.celsius:6.2f} °C {flag}  raw={raw}")

    device.add_listener(show)
    try:
        device.open()
    except DeviceError as exc:
        _fail(exc)
    try:
        time.sleep(seconds)
    finally:
        device.close()
    s = device.stats
    click.echo(f"readings={s.readings} garbage_bytes={s.garbage_bytes} rejected_lines={s.rejected_lines} "
               f"bad_checksums={s.bad_checksums}")
    if s.readings == 0:
        raise click.ClickException("no reading received: check the wiring, the baud rate and --wire-format")


@hardware.command("simulate-thermometer")
@click.argument("link", type=click.Path(path_type=Path))
@click.option("--wire-format", type=click.Choice(["ascii", "binary"]), default="ascii", show_default=True)
@click.option("--celsius", type=float, default=36.6, show_default=True)
@click.option("--interval", type=float, default=0.25, show_default=True, help="Seconds between readings.")
@click.option("--garbage-rate", type=float, default=0.0, show_default=True)
@click.option("--drop-rate", type=float, default=0.0, show_default=True)
@click.option("--seconds", type=float, default=None, help="Stop after this long (default: until Ctrl-C).")
def simulate_thermometer(link: Path, wire_format: str, celsius: float, interval: float, garbage_rate: float,
                         drop_rate: float, seconds: float | None) -> None:
    """Run a simulated serial thermometer on a pty reachable at LINK.

    Example: checkpoint hardware simulate-thermometer /tmp/ttyIR --wire-format binary --celsius 37.5
    """
    from hardware.thermometer.simulated_serial import PtyThermometerSimulator

    sim = PtyThermometerSimulator(link, wire_format=wire_format, celsius=celsius, interval_s=interval,
                                  garbage_rate=garbage_rate, drop_rate=drop_rate)
    sim.start()
    click.echo(f"simulated thermometer at {link} ({wire_format}, {celsius} °C); Ctrl-C stops it")
    try:
        if seconds is None:
            _forever()
        else:
            time.sleep(seconds)
    except KeyboardInterrupt:
        pass  # Ctrl-C is how this command is meant to end
    finally:
        sim.stop()
    click.echo(f"sent {sim.messages_sent} readings")


def _forever() -> None:
    while True:
        time.sleep(3600)


@hardware.command()
@click.argument("pin")
@click.option("--active-low", is_flag=True, help="The relay board switches on a LOW input.")
@click.option("--fail-mode", type=click.Choice(["secure", "safe"]), default="secure", show_default=True)
@click.option("--seconds", type=float, default=2.0, show_default=True)
def relay(pin: str, active_low: bool, fail_mode: str, seconds: float) -> None:
    """Pulse the barrier relay on PIN open once, then leave it in its safe state.

    Example: checkpoint hardware relay 17 --active-low --seconds 3
    """
    from hardware.barrier.gpio_relay import GpioBarrier, GpioBarrierConfig

    barrier = GpioBarrier(GpioBarrierConfig(relay_pin=int(pin) if pin.isdigit() else pin,
                                            relay_active_high=not active_low, fail_mode=fail_mode))
    try:
        barrier.open()
        barrier.pulse_open(seconds, reason="relay check")
        click.echo(f"开启 open for {seconds} s (relay coil {'on' if barrier.energised else 'off'})")
        time.sleep(seconds + 0.1)
        click.echo(f"{barrier.state} (relay coil {'on' if barrier.energised else 'off'})")
    finally:
        barrier.close()


@hardware.command()
@click.argument("text_zh")
@click.argument("text_en")
@click.option("--wav", type=click.Path(path_type=Path), default=None, help="Write <wav>-zh.wav and -en.wav instead.")
def say(text_zh: str, text_en: str, wav: Path | None) -> None:
    """Speak a message through espeak-ng, Chinese first, then English.

    Example: checkpoint hardware say "请出示健康码" "Please show your health code"
    """
    from hardware.speaker.espeak import EspeakSpeaker

    speaker = EspeakSpeaker()
    if wav is not None:
        for voice, text, suffix in ((speaker.config.voice_zh, text_zh, "zh"), (speaker.config.voice_en, text_en, "en")):
            out = wav.with_name(f"{wav.stem}-{suffix}.wav")
            speaker.render_wav(text, voice, out)
            click.echo(f"{out} {out.stat().st_size} bytes")
        return
    speaker.open()
    speaker.say(text_zh, text_en)
    speaker.wait_idle(timeout_s=60)
    speaker.close()


@hardware.command()
@click.argument("source")
@click.option("--seconds", type=float, default=3.0, show_default=True)
@click.option("--snapshot", type=click.Path(path_type=Path), default=None, help="Save the last frame (PNG/JPEG).")
def camera(source: str, seconds: float, snapshot: Path | None) -> None:
    """Read frames from a USB index, a video file or an RTSP URL; print size and frame rate.

    Example: checkpoint hardware camera 0 --snapshot /tmp/gate.png
    """
    import cv2

    from hardware.camera.opencv_capture import OpenCVCamera, OpenCVCameraConfig

    cam = OpenCVCamera(OpenCVCameraConfig(source=int(source) if source.isdigit() else source))
    frames, last = 0, None
    try:
        cam.open()
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            frame = cam.read(timeout_s=0.5)
            if frame is not None:
                frames, last = frames + 1, frame
    except DeviceError as exc:
        if last is None:
            _fail(exc)
    finally:
        cam.close()
    if last is None:
        raise click.ClickException("no frame received")
    click.echo(f"{frames} frames in {seconds:.1f} s, {last.shape[1]}x{last.shape[0]}")
    if snapshot is not None:
        cv2.imwrite(str(snapshot), last)
        click.echo(f"saved {snapshot}")


@hardware.command()
@click.option("--type", "kind", type=click.Choice(["serial", "evdev"]), required=True, help="UART module or USB wedge.")
@click.option("--port", default=None, help="Serial port of a UART module (--type serial).")
@click.option("--baudrate", type=int, default=9600, show_default=True)
@click.option("--terminator", type=click.Choice(["CR", "LF", "CRLF"]), default="CR", show_default=True)
@click.option("--device", default=None, help="Input event device of a wedge (--type evdev), /dev/input/by-id/...")
@click.option("--no-grab", is_flag=True, help="Let the keystrokes through to other readers too (bench only).")
@click.option("--seconds", type=float, default=10.0, show_default=True, help="How long to listen.")
def scanner(kind: str, port: str | None, baudrate: int, terminator: str, device: str | None, no_grab: bool,
            seconds: float) -> None:
    """Print what a QR scanner module reads (prefix, length, first characters), then what it dropped.

    Example: checkpoint hardware scanner --type serial --port /dev/ttyS0 --terminator CRLF
    """
    from hardware.scanner.evdev_hid import EvdevScanner, EvdevScannerConfig
    from hardware.scanner.serial_uart import SerialScanner, SerialScannerConfig

    if kind == "serial" and not port:
        raise click.UsageError("--type serial needs --port (e.g. /dev/ttyS0)")
    if kind == "evdev" and not device:
        raise click.UsageError("--type evdev needs --device (e.g. /dev/input/by-id/usb-...-event-kbd)")
    dev = (SerialScanner(SerialScannerConfig(port=port, baudrate=baudrate, terminator=terminator))  # type: ignore[arg-type]
           if kind == "serial" else EvdevScanner(EvdevScannerConfig(device=device, grab=not no_grab)))  # type: ignore[arg-type]
    try:
        dev.open()
    except DeviceError as exc:
        _fail(exc)
    try:
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            line = dev.read(min(left, 0.5))
            if line is not None:
                # Enough to tell the format and that it read whole; not the code itself (it names a person).
                prefix = line.text[:4] if line.text[3:4] == ":" else "?"
                click.echo(f"{line.at_wallclock:%H:%M:%S.%f} {prefix} {len(line.text)} chars  {line.text[:12]}…")
    finally:
        dev.close()
    click.echo(f"lines={dev.lines_read} dropped={dev.lines_dropped}")
    if dev.lines_read == 0:
        raise click.ClickException("no code read: check the wiring, the baud rate and the terminator "
                                   "(UART), or the device path (wedge)")


@hardware.command("simulate-scanner")
@click.argument("link", type=click.Path(path_type=Path))
@click.argument("codes", nargs=-1)
@click.option("--terminator", type=click.Choice(["CR", "LF", "CRLF"]), default="CR", show_default=True)
@click.option("--interval", type=float, default=1.0, show_default=True, help="Seconds between codes.")
def simulate_scanner(link: Path, codes: tuple[str, ...], terminator: str, interval: float) -> None:
    """Run a simulated UART scanner on a pty at LINK that scans each of CODES in turn.

    Example: checkpoint hardware simulate-scanner /tmp/ttySCAN "HP1:..." --terminator CRLF
    """
    from hardware.scanner.simulated import PtyScannerSimulator

    with PtyScannerSimulator(link, terminator) as sim:  # type: ignore[arg-type]
        click.echo(f"simulated scanner at {link} ({terminator}); Ctrl-C stops it")
        try:
            time.sleep(interval)
            for code in codes:
                sim.scan(code)
                time.sleep(interval)
        except KeyboardInterrupt:
            pass  # Ctrl-C is how this command is meant to end
    click.echo(f"scanned {len(codes)} codes")
