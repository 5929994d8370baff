"""QR scanner modules: the serial driver on a real pty, the evdev driver on a real uinput keyboard, the US keymap."""

from __future__ import annotations

import logging
import string
import time

import pytest
from pydantic import TypeAdapter, ValidationError

from hardware.registry import ScannerConfig, build_device
from hardware.scanner.evdev_hid import KEY_DOWN, KEY_UP, KeyLineAssembler
from hardware.scanner.keymap import UntypeableError, strokes_for
from hardware.scanner.serial_uart import SerialScanner, SerialScannerConfig
from hardware.scanner.simulated import PtyScannerSimulator, UinputScannerSimulator, uinput_missing_reason

BASE45 = string.digits + string.ascii_uppercase + " $%*+-./:"
HP1 = "HP1:" + BASE45 * 3
HC1 = "HC1:NCFOXN%TS3DH3ZSUZK+.V0ETD%65NL-AH-R6IOO6+IUKRG*I.I7BVR$0D6NHDI%YHG7ILMP3A*AH5N1/1T$I:PBN71B0"


def typed(assembler: KeyLineAssembler, text: str, t0: float = 0.0, gap: float = 0.002):
    """Feed the key events a wedge sends for `text` + Enter; returns (lines, drops)."""
    lines, drops, t = [], [], t0
    for key, value in _wedge_events(text):
        t += gap
        line, dropped = assembler.feed(key, value, t)
        lines += [line] if line else []
        drops += [dropped] if dropped else []
    return lines, drops


@pytest.mark.parametrize("code", [BASE45, HP1, HC1, "hp1:lower case"], ids=["base45", "HP1", "HC1", "lower"])
def test_every_code_character_is_typeable_on_a_us_wedge_and_round_trips(code):
    lines, drops = typed(KeyLineAssembler(0.5, 8192), code)
    assert lines == [code] and drops == []


def test_a_character_a_us_keyboard_cannot_type_is_refused_by_name():
    with pytest.raises(UntypeableError, match="'é'"):
        strokes_for("HP1:é")


def test_a_partial_line_timed_out_is_dropped_and_does_not_glue_onto_the_next_code():
    assembler = KeyLineAssembler(0.5, 8192)
    assert assembler.feed("KEY_H", KEY_DOWN, 0.0) == (None, None)
    assert assembler.feed("KEY_P", KEY_DOWN, 0.01) == (None, None)
    # The next person's code starts after the timeout: the stale "hp" is dropped, not prefixed.
    lines, drops = typed(assembler, "HP1:ABC", t0=2.0)
    assert lines == ["HP1:ABC"] and drops == [("partial line timed out", 2)]


def test_a_key_that_types_nothing_drops_its_line():
    assembler = KeyLineAssembler(0.5, 8192)
    assembler.feed("KEY_A", KEY_DOWN, 0.0)
    assembler.feed("KEY_F1", KEY_DOWN, 0.01)
    assert assembler.feed("KEY_ENTER", KEY_DOWN, 0.02) == (None, ("key KEY_F1 types no character", 1))


def serial_scanner(link, **settings) -> SerialScanner:
    return SerialScanner(SerialScannerConfig(port=str(link), retry_delay_s=0.05, **settings))


@pytest.mark.parametrize("terminator", ["CR", "LF", "CRLF"])
def test_serial_scanner_on_a_pty_reads_lines_with_each_terminator(tmp_path, terminator):
    with PtyScannerSimulator(tmp_path / "ttySCAN", terminator) as sim, \
            serial_scanner(sim.link, terminator=terminator) as scanner:
        sim.scan(HP1)
        sim.scan(HC1)
        first, second = scanner.read(5.0), scanner.read(5.0)
        assert (first.text, second.text) == (HP1, HC1)
        assert first.at_monotonic <= second.at_monotonic and first.at_wallclock.tzinfo is not None


def test_garbage_on_the_serial_line_is_dropped_with_a_reason_and_the_next_code_reads(tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="hardware.scanner.serial_uart")
    with PtyScannerSimulator(tmp_path / "ttySCAN", "CR") as sim, serial_scanner(sim.link, max_line=64) as scanner:
        sim.write_raw(b"\xff\xfe\x80garbage\r")          # not UTF-8
        sim.write_raw(b"HP1:\x01\x02AB\r")              # control characters
        sim.write_raw(b"A" * 200 + b"\r")               # longer than max_line
        sim.write_raw(b"\r\r")                          # empty lines: nothing at all
        sim.scan("HP1:GOOD")
        line = scanner.read(5.0)
        assert line is not None and line.text == "HP1:GOOD"
        assert scanner.read(0.2) is None
        assert scanner.lines_dropped == 3 and scanner.lines_read == 1
    reasons = [r.getMessage() for r in caplog.records]
    assert any("not UTF-8" in m for m in reasons) and any("control characters" in m for m in reasons)
    assert any("longer than 64 bytes" in m for m in reasons)
    assert not any("garbage" in m or "HP1" in m for m in reasons)  # never the bytes themselves


def test_scanner_config_errors_name_the_key():
    adapter = TypeAdapter(ScannerConfig)
    with pytest.raises(ValidationError) as missing:
        adapter.validate_python({"type": "evdev"})
    assert ("evdev", "device") in [tuple(e["loc"]) for e in missing.value.errors()]
    with pytest.raises(ValidationError) as bad:
        adapter.validate_python({"type": "serial", "port": "/dev/ttyS0", "terminator": "NUL"})
    assert ("serial", "terminator") in [tuple(e["loc"]) for e in bad.value.errors()]


def test_a_missing_serial_port_is_a_device_error_naming_it(tmp_path):
    from protocols.errors import DeviceError

    with pytest.raises(DeviceError, match="ttyNONE"):
        build_device(SerialScannerConfig(port=str(tmp_path / "ttyNONE"), open_attempts=1, retry_delay_s=0.01)).open()


# ---- the HID wedge on a real uinput keyboard -----------------------------------------------

needs_uinput = pytest.mark.skipif(uinput_missing_reason() is not None, reason=str(uinput_missing_reason()))


@needs_uinput
def test_uinput_wedge_types_hp1_and_hc1_and_the_evdev_driver_reads_them():
    from hardware.scanner.evdev_hid import EvdevScanner, EvdevScannerConfig

    with UinputScannerSimulator(key_gap_s=0.0005) as wedge, \
            EvdevScanner(EvdevScannerConfig(device=wedge.device)) as scanner:
        for code in (HP1, HC1):
            wedge.scan(code)
            line = scanner.read(5.0)
            assert line is not None and line.text == code


@needs_uinput
def test_the_grabbed_wedge_keystrokes_reach_no_other_reader():
    import select

    import evdev

    from hardware.scanner.evdev_hid import EvdevScanner, EvdevScannerConfig

    with UinputScannerSimulator(key_gap_s=0.0005) as wedge:
        other = evdev.InputDevice(wedge.device)  # the kiosk's X server, a console: any other reader
        try:
            with EvdevScanner(EvdevScannerConfig(device=wedge.device)) as scanner:
                wedge.scan("HP1:SECRET")
                assert scanner.read(5.0).text == "HP1:SECRET"
                ready, _, _ = select.select([other.fd], [], [], 0.3)
                leaked = [e for e in other.read() if e.type == evdev.ecodes.EV_KEY] if ready else []
                assert leaked == []
            # Once the gate lets go, the same reader sees keys again: the test can see a leak.
            wedge.scan("X")
            ready, _, _ = select.select([other.fd], [], [], 2.0)
            assert ready and any(e.type == evdev.ecodes.EV_KEY for e in other.read())
        finally:
            other.close()


def test_uinput_missing_reason_names_the_device_node():
    reason = uinput_missing_reason()
    assert reason is None or "/dev/uinput" in reason


def test_checkpoint_hardware_scanner_shows_what_a_serial_module_reads(tmp_path):
    import threading

    from click.testing import CliRunner

    from hardware.cli import hardware

    with PtyScannerSimulator(tmp_path / "ttySCAN", "CRLF") as sim:
        def scan_soon():
            time.sleep(0.3)
            sim.write_raw(b"\xff\xfe\r\n")
            sim.scan(HP1)

        threading.Thread(target=scan_soon, daemon=True).start()
        result = CliRunner().invoke(hardware, ["scanner", "--type", "serial", "--port", str(sim.link),
                                               "--terminator", "CRLF", "--seconds", "0.8"])
    assert result.exit_code == 0, result.output
    assert f"HP1: {len(HP1)} chars" in result.output and "lines=1 dropped=1" in result.output
    assert HP1 not in result.output  # the code itself is not printed


def test_checkpoint_hardware_scanner_names_what_is_missing(tmp_path):
    from click.testing import CliRunner

    from hardware.cli import hardware

    missing = CliRunner().invoke(hardware, ["scanner", "--type", "serial"])
    assert missing.exit_code == 2 and "--port" in missing.output
    gone = CliRunner().invoke(hardware, ["scanner", "--type", "evdev", "--device", str(tmp_path / "event99")])
    assert gone.exit_code == 1 and "event99" in gone.output and "Traceback" not in gone.output


class StandInInputDevice:
    """Where the kernel has no uinput: an input device's read side (a real pipe for select, evdev's own
    InputEvent objects), so the driver's thread, key-name mapping and grab/ungrab run; the uinput tests above
    are the real proof where /dev/uinput exists."""

    def __init__(self):
        import os

        self._r, self._w = os.pipe()
        self.fd = self._r
        self.pending: list = []
        self.grabbed = False
        self.calls: list[str] = []

    def type_text(self, text: str) -> None:
        import os

        from evdev import InputEvent, ecodes

        for key, value in _wedge_events(text):
            self.pending.append(InputEvent(0, 0, ecodes.EV_KEY, getattr(ecodes, key), value))
            self.pending.append(InputEvent(0, 0, ecodes.EV_SYN, 0, 0))
        os.write(self._w, b"x")

    def read(self):
        import os

        os.read(self._r, 4096)
        events, self.pending = self.pending, []
        return iter(events)

    def grab(self):
        self.grabbed = True
        self.calls.append("grab")

    def ungrab(self):
        self.grabbed = False
        self.calls.append("ungrab")

    def close(self):
        import os

        self.calls.append("close")
        os.close(self._r)
        os.close(self._w)


def _wedge_events(text: str):
    events = []
    for stroke in strokes_for(text):
        if stroke.shift:
            events.append(("KEY_LEFTSHIFT", KEY_DOWN))
        events += [(stroke.key, KEY_DOWN), (stroke.key, KEY_UP)]
        if stroke.shift:
            events.append(("KEY_LEFTSHIFT", KEY_UP))
    return events + [("KEY_ENTER", KEY_DOWN), ("KEY_ENTER", KEY_UP)]


def test_evdev_driver_thread_grabs_maps_key_codes_and_ungrabs_on_close(monkeypatch):
    from hardware.scanner.evdev_hid import EvdevScanner, EvdevScannerConfig

    stand_in = StandInInputDevice()
    scanner = EvdevScanner(EvdevScannerConfig(device="/dev/input/event-stand-in"))
    monkeypatch.setattr(scanner, "_open_device", lambda: (stand_in.grab(), stand_in)[1])
    with scanner:
        assert stand_in.grabbed
        stand_in.type_text(HC1)
        line = scanner.read(5.0)
        assert line is not None and line.text == HC1
    assert stand_in.calls == ["grab", "ungrab", "close"]
