"""Mosquitto's password and ACL files, written from the hub's devices: each only under its own gate.

The password file holds the `$7$` PBKDF2-SHA512 hashes computed at enrollment (the hub never
keeps a device's secret). The hub's own bridge account gets a random password kept in
`hub.secret` beside the files (mode 0600), read by `checkpoint hub bridge --password-file`.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from protocols import topics
from server.passwords import mosquitto_hash
from server.store import HubStore

HUB_USER = "hub"


@dataclass(frozen=True)
class BrokerFiles:
    """Where the files were written."""

    password_file: Path
    acl_file: Path
    hub_secret_file: Path
    hub_user: str


def acl_text(accounts: list[dict]) -> str:
    """The ACL: the hub reads and writes everything under the root; a device only its own gate."""
    lines = [f"user {HUB_USER}", f"topic readwrite {topics.ROOT}/#", ""]
    for a in accounts:
        lines.append(f"user {a['id']}")
        for channel in topics.DEVICE_PUBLISHES:
            lines.append(f"topic write {topics.gate_topic(a['venue'], a['gate'], channel)}")
        for channel in topics.DEVICE_SUBSCRIBES:
            lines.append(f"topic read {topics.gate_topic(a['venue'], a['gate'], channel)}")
        lines.append("")
    return "\n".join(lines)


def _write_private(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def write_broker_files(store: HubStore, out: Path) -> BrokerFiles:
    """Write passwd, acl and (once) hub.secret into `out`."""
    out.mkdir(parents=True, exist_ok=True)
    secret_file = out / "hub.secret"
    if not secret_file.exists():
        fd = os.open(secret_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(32))
    hub_password = secret_file.read_text().strip()
    accounts = store.mqtt_accounts()
    passwd = [f"{HUB_USER}:{mosquitto_hash(hub_password)}"] + [f"{a['id']}:{a['mqtt_hash']}" for a in accounts]
    password_file, acl_file = out / "passwd", out / "acl"
    _write_private(password_file, "\n".join(passwd) + "\n")
    _write_private(acl_file, acl_text(accounts))
    # Mosquitto started as root drops to its own user, which must be able to read these.
    for path in (password_file, acl_file):
        os.chmod(path, 0o644)
    return BrokerFiles(password_file, acl_file, secret_file, HUB_USER)
