"""Real local receivers for the alert tests: an HTTP webhook receiver (http.server) that can refuse the
first tries, and an SMTP inbox (aiosmtpd) on a free port."""

from __future__ import annotations

import json
import threading
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from demo.processes import free_port


@dataclass
class Webhook:
    """A webhook receiver on 127.0.0.1: `fail` tries answer 500 first, then 200 with `answer`."""

    fail: int = 0
    answer: dict[str, Any] = field(default_factory=lambda: {"errcode": 0, "errmsg": "ok"})
    got: list[dict[str, Any]] = field(default_factory=list)
    tries: int = 0
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/hook?access_token=t"

    def start(self, port: int | None = None) -> "Webhook":
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                hook.tries += 1
                if hook.tries <= hook.fail:
                    self.send_response(500)
                    self.end_headers()
                    return
                query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
                hook.got.append({"body": json.loads(body), "query": query})
                out = json.dumps(hook.answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port or free_port()), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


class Inbox:
    """A real SMTP server (aiosmtpd) on a free port; `messages` holds what it received, parsed."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.messages: list[Any] = []
        inbox = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
                from email import message_from_bytes
                from email.policy import default

                msg = message_from_bytes(envelope.content, policy=default)
                inbox.messages.append({"to": list(envelope.rcpt_tos), "subject": str(msg["Subject"]),
                                       "text": msg.get_content()})
                return "250 OK"

        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        self.controller.stop()
