"""The kiosk page a Pi opens full-screen: the current screen pushed by Server-Sent Events, and guard mode.

Served by the standard library's threading HTTP server on a named thread, so a gate needs no
Flask. The page's files are in `kiosk/` beside this module. The guard posts a manual decision
with a PIN; it is handed to `on_guard` (the agent's loop queues it and alone records and
actuates). Wrong PINs lock guard mode, each lockout twice as long as the one before (up to a day),
so a 4-digit PIN takes years to exhaust; each lockout is handed to `on_lockout` (the agent records
it as an alarm event the hub receives).
"""

from __future__ import annotations

import hmac
import json
import logging
import threading
import time
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from hardware.display.base import Display, Screen
from hardware.display.journal import ScreenJournal
from protocols.errors import DeviceError

log = logging.getLogger(__name__)

ASSETS = Path(__file__).with_name("kiosk")
CONTENT_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                 ".css": "text/css; charset=utf-8"}
MAX_BODY = 4096
MAX_PIN_FAILURES = 5  # wrong PINs in a row that lock guard mode
LOCKOUT_S = 60.0  # the first lockout; each later one doubles, until a right PIN
MAX_LOCKOUT_S = 24 * 3600.0  # so 5 guesses a day at worst: 10^4 PINs take 2000 days (about 5.5 years)
SSE_KEEPALIVE_S = 15.0

GuardCallback = Callable[[str, str, str], None]  # decision, reason, operator
LockoutCallback = Callable[[int, float], None]  # the how-manieth lockout in a row, its seconds


class KioskDisplay(Display):
    """The display on the kiosk page: show(screen) pushes it to every open page.

    `initial` is what the page shows until the gate shows its first screen (the agent passes its
    prompt); without one the page starts on a bare idle screen.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 8088, guard_pin: str | None = None,
                 on_guard: GuardCallback | None = None, journal: Path | None = None,
                 initial: Screen | None = None, name: str = "kiosk", on_lockout: LockoutCallback | None = None,
                 clock: Callable[[], float] = time.monotonic):
        super().__init__(name)
        self.host = host
        self.port = port
        self.guard_pin = guard_pin
        self.on_guard = on_guard
        self.journal = ScreenJournal(journal) if journal else None
        self._screen = initial or Screen("idle", "", "")
        self._version = 0
        self._changed = threading.Condition()
        self.on_lockout = on_lockout
        self._clock = clock  # monotonic; a test passes its own to let a lockout run out
        self._failures = 0
        self._lockouts = 0  # in a row, since the last right PIN: the back-off's exponent
        self._locked_until = 0.0
        self._pin_lock = threading.Lock()  # the page's requests come on several threads
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ---- display interface -----------------------------------------------------------------

    def open(self) -> None:
        """Start serving the page on a named thread (port 0 picks a free port)."""
        if self._server is not None:
            return
        handler = type("KioskHandler", (_Handler,), {"kiosk": self})
        try:
            self._server = ThreadingHTTPServer((self.host, self.port), handler)
        except OSError as exc:
            raise DeviceError(f"kiosk page cannot listen on {self.host}:{self.port}: {exc.strerror}") from exc
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="kiosk-http", daemon=True)
        self._thread.start()
        log.info("kiosk page at http://%s:%d/", self.host, self.port)

    def close(self) -> None:
        """Stop serving; open pages fall back to reconnecting."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        with self._changed:
            self._version += 1
            self._changed.notify_all()
        if self.journal:
            self.journal.close()

    def show(self, screen: Screen) -> None:
        """Make this the current screen and push it to every open page."""
        if self.journal:
            self.journal.write(screen)
        with self._changed:
            self._screen = screen
            self._version += 1
            self._changed.notify_all()

    @property
    def screen(self) -> Screen:
        """The screen showing now."""
        return self._screen

    @property
    def url(self) -> str:
        """Where the page is served."""
        return f"http://{self.host}:{self.port}/"

    # ---- used by the handler ---------------------------------------------------------------

    def wait_for_change(self, version: int, timeout: float) -> tuple[int, Screen]:
        """Block until the screen changes from `version` (or timeout); return the new version and screen."""
        with self._changed:
            self._changed.wait_for(lambda: self._version != version or self._server is None, timeout)
            return self._version, self._screen

    def guard(self, body: dict[str, Any]) -> tuple[HTTPStatus, dict[str, Any]]:
        """Check a guard's request (PIN, decision, reason) and pass it to the loop."""
        if self.guard_pin is None or self.on_guard is None:
            return HTTPStatus.FORBIDDEN, _msg("本机未启用值班模式", "Guard mode is not enabled at this gate")
        pin, decision = body.get("pin"), body.get("decision")
        reason, operator = body.get("reason"), body.get("operator")
        with self._pin_lock:
            now = self._clock()
            if now < self._locked_until:
                return HTTPStatus.TOO_MANY_REQUESTS, _locked(self._locked_until - now)
            if not isinstance(pin, str) or not hmac.compare_digest(pin.encode(), self.guard_pin.encode()):
                self._failures += 1
                if self._failures < MAX_PIN_FAILURES:
                    return HTTPStatus.FORBIDDEN, _msg("密码错误", "Wrong PIN")
                self._failures = 0
                self._lockouts += 1
                seconds = min(LOCKOUT_S * 2 ** min(self._lockouts - 1, 32), MAX_LOCKOUT_S)
                self._locked_until = now + seconds
                lockouts = self._lockouts
            else:
                self._failures = self._lockouts = 0
                lockouts = 0
        if lockouts:
            log.warning("guard mode locked for %.0fs after %d wrong PINs (lockout %d in a row)", seconds,
                        MAX_PIN_FAILURES, lockouts)
            if self.on_lockout is not None:
                self.on_lockout(lockouts, seconds)
            return HTTPStatus.TOO_MANY_REQUESTS, _locked(seconds)
        if decision not in ("admit", "deny"):
            return HTTPStatus.BAD_REQUEST, _msg("请选择放行或拒绝", "Choose admit or deny")
        if not isinstance(reason, str) or not reason.strip() or len(reason) > 200:
            return HTTPStatus.BAD_REQUEST, _msg("请填写原因", "Give a reason (up to 200 characters)")
        if not isinstance(operator, str) or not operator.strip() or len(operator) > 64:
            return HTTPStatus.BAD_REQUEST, _msg("请填写工号", "Give your guard id")
        self.on_guard(decision, reason.strip(), operator.strip())
        return HTTPStatus.ACCEPTED, _msg("已记录", "Recorded")


def _msg(zh: str, en: str) -> dict[str, Any]:
    return {"message": {"zh": zh, "en": en}}


def _locked(seconds: float) -> dict[str, Any]:
    """The answer while guard mode is locked: 已锁定 · locked, with the time left (also as a number)."""
    left = max(1, int(seconds + 0.999))
    text = f"{left // 3600}h{left % 3600 // 60:02d}m" if left >= 3600 else f"{left // 60}m{left % 60:02d}s"
    return {**_msg(f"已锁定，剩余 {text}", f"locked: {text} left"), "locked_s": left}


class _Handler(BaseHTTPRequestHandler):
    kiosk: KioskDisplay
    server_version = "checkpoint-kiosk"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        log.debug("kiosk %s", format % args)

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        """Serve the page, its assets, the state as JSON, or the SSE stream."""
        path = self.path.split("?", 1)[0]
        if path == "/state":
            self._json(HTTPStatus.OK, self.kiosk.screen.to_json())
        elif path == "/events":
            self._events()
        else:
            name = "index.html" if path in ("/", "") else path.lstrip("/")
            file = ASSETS / name
            if "/" in name or file.suffix not in CONTENT_TYPES or not file.is_file():
                self._json(HTTPStatus.NOT_FOUND, _msg("没有此页面", "Not found"))
                return
            data = file.read_bytes()
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", CONTENT_TYPES[file.suffix])
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-cache")
            self.end_headers()
            self.wfile.write(data)

    def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
        """Accept a guard's manual decision."""
        if self.path != "/guard":
            self._json(HTTPStatus.NOT_FOUND, _msg("没有此页面", "Not found"))
            return
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            length = -1
        if not 0 < length <= MAX_BODY:
            self._json(HTTPStatus.BAD_REQUEST, _msg("请求无效", "Bad request"))
            return
        try:
            body = json.loads(self.rfile.read(length))
        except (json.JSONDecodeError, UnicodeDecodeError):
            body = None
        if not isinstance(body, dict):
            self._json(HTTPStatus.BAD_REQUEST, _msg("请求无效", "Bad request: a JSON object is expected"))
            return
        status, answer = self.kiosk.guard(body)
        self._json(status, answer)

    def _json(self, status: HTTPStatus, body: dict[str, Any]) -> None:
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _events(self) -> None:
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        version = -1
        try:
            while self.kiosk._server is not None:
                new_version, screen = self.kiosk.wait_for_change(version, SSE_KEEPALIVE_S)
                if new_version == version:
                    self.wfile.write(b": keepalive\n\n")
                else:
                    version = new_version
                    payload = json.dumps(screen.to_json(), ensure_ascii=False)
                    self.wfile.write(f"id: {version}\ndata: {payload}\n\n".encode("utf-8"))
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            log.debug("kiosk page disconnected")
