"""Mosquitto's password and ACL files, written from the hub's devices: each only under its own gate.

The password file holds the `$7$` PBKDF2-SHA512 hashes computed at enrollment (the hub never
keeps a device's secret). Each hub process (bridge) gets its own broker account with a random
password kept beside the files (mode 0600): `hub` in `hub.secret`, then `hub-2` in `hub-2.secret`
and so on, read by `checkpoint hub bridge --username ... --password-file ...`.

Client ids (issue 9 item 9). Under MQTT a client that connects with a client id already in use
takes that session over and the broker drops the other one, so a gate that knew (or guessed) the
bridge's id or another gate's id could knock them off the broker, over and over. The broker is
therefore told `use_username_as_clientid true`: whatever id a client sends, its session is keyed by
its login, and a login is only ever its own (a device's is its device id, with a secret only it
holds). That makes one login one session, so every hub-side client needs a login of its own:
a second client logged in as `hub` (a watcher, a second hub process) would drop the first. Hence
one account per hub process (`--hub-processes N`), each with its own persistent session, which is
also what MQTT 5 shared subscriptions across several hub processes need.
Not chosen: the dynamic-security plugin (it can pin a client id per login too, but the hub would
then manage the broker over `$CONTROL` with an admin login: a new, more powerful credential to
guard, where files keep the hub's power over the broker to writing these three files);
`pattern` ACLs with %c (they limit topics by client id, not who may use an id).
"""

from __future__ import annotations

import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from protocols import topics
from server.passwords import mosquitto_hash
from server.store import HubStore

log = logging.getLogger(__name__)
HUB_USER = "hub"
# One session per login: see the module docstring.
CLIENT_ID_RULE = "use_username_as_clientid true"


def hub_accounts(processes: int) -> list[str]:
    """The hub's broker logins for `processes` hub processes: `hub`, `hub-2`, ... (`hub` as before)."""
    if processes < 1:
        raise ValueError(f"hub processes must be at least 1, not {processes}")
    return [HUB_USER] + [f"{HUB_USER}-{i}" for i in range(2, processes + 1)]


@dataclass(frozen=True)
class BrokerFiles:
    """Where the files were written, and which hub login reads its password from which file."""

    password_file: Path
    acl_file: Path
    hub_secrets: dict[str, Path]
    skipped: tuple[str, ...] = ()

    @property
    def hub_user(self) -> str:
        """The first hub process's login."""
        return HUB_USER

    @property
    def hub_secret_file(self) -> Path:
        """The first hub process's password file."""
        return self.hub_secrets[HUB_USER]

    def mosquitto_conf(self) -> str:
        """The lines to put in mosquitto.conf (or a file it includes)."""
        return f"password_file {self.password_file}\nacl_file {self.acl_file}\n{CLIENT_ID_RULE}\n"


def _device_acl(account: dict) -> list[str]:
    """One device's ACL lines; raises TopicError when its venue or gate id is no topic segment."""
    lines = [f"user {account['id']}"]
    for channel in topics.DEVICE_PUBLISHES:
        lines.append(f"topic write {topics.gate_topic(account['venue'], account['gate'], channel)}")
    for channel in topics.DEVICE_SUBSCRIBES:
        lines.append(f"topic read {topics.gate_topic(account['venue'], account['gate'], channel)}")
    return lines + [""]


def acl_text(accounts: list[dict], hubs: list[str] | None = None) -> str:
    """The ACL: each hub login reads and writes everything under the root and may join the hub's shared
    subscriptions; a device only its own gate (so no device can join the group and take others' events)."""
    lines = []
    for user in hubs or [HUB_USER]:
        lines += [f"user {user}", f"topic readwrite {topics.ROOT}/#",
                  f"topic read {topics.shared(topics.ROOT + '/#')}", ""]
    for a in accounts:
        lines += _device_acl(a)
    return "\n".join(lines)


def _write_private(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def _hub_secret(out: Path, user: str) -> Path:
    """The login's password file, made once (0600) with a random password."""
    path = out / f"{user}.secret"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(32))
    return path


def write_broker_files(store: HubStore, out: Path, hub_processes: int = 1) -> BrokerFiles:
    """Write passwd, acl and (once each) the hub logins' secrets into `out`.

    A device whose venue or gate id is no topic segment (a row made before the ids were checked)
    is left out of both files, so it cannot log in, and named in `skipped`.
    """
    out.mkdir(parents=True, exist_ok=True)
    hubs = hub_accounts(hub_processes)
    hub_secrets = {user: _hub_secret(out, user) for user in hubs}
    accounts, skipped = [], []
    for a in store.mqtt_accounts():
        try:
            _device_acl(a)
        except topics.TopicError as exc:
            log.warning("left device %s out of the broker files: %s", a["id"], exc)
            skipped.append(f"{a['id']}: {exc}")
            continue
        accounts.append(a)
    passwd = [f"{user}:{mosquitto_hash(path.read_text().strip())}" for user, path in hub_secrets.items()]
    passwd += [f"{a['id']}:{a['mqtt_hash']}" for a in accounts]
    password_file, acl_file = out / "passwd", out / "acl"
    _write_private(password_file, "\n".join(passwd) + "\n")
    _write_private(acl_file, acl_text(accounts, hubs))
    # Mosquitto started as root drops to its own user, which must be able to read these.
    for path in (password_file, acl_file):
        os.chmod(path, 0o644)
    return BrokerFiles(password_file, acl_file, hub_secrets, tuple(skipped))
