"""A new console password must be hard to guess (zxcvbn, server/passwords.py) wherever one is set:
`checkpoint hub init` and `checkpoint hub add-user`; the reason is bilingual and nothing is written."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from server.cli import hub
from server.passwords import WeakPassword, check_password_strength
from server.store import HubStore

STRONG = "quiet-harbour-lantern"


@pytest.mark.parametrize("password", ["1", "admin", "password", "12345678", "qwerty123", "li-li-li"])
def test_guessable_passwords_are_refused_with_a_bilingual_reason(password: str) -> None:
    with pytest.raises(WeakPassword) as refused:
        check_password_strength(password, ("li",))
    assert "密码太弱" in str(refused.value) and "too weak" in str(refused.value)


def test_strong_and_very_long_passwords_pass() -> None:
    check_password_strength(STRONG)
    check_password_strength("correct horse battery staple")
    check_password_strength("x7!Qm" * 40)  # longer than zxcvbn reads (72): scored by its start, not refused


def test_hub_init_refuses_an_admin_password_of_1_and_writes_nothing(tmp_path: Path) -> None:
    db = tmp_path / "hub.db"
    result = CliRunner().invoke(hub, ["init", "--db", str(db), "--password", "1"])
    assert result.exit_code != 0 and "密码太弱" in result.output and "too weak" in result.output
    assert not db.exists()
    result = CliRunner().invoke(hub, ["init", "--db", str(db)], env={"CHECKPOINT_ADMIN_PASSWORD": "admin"})
    assert result.exit_code != 0 and not db.exists()  # the environment is checked the same way
    assert CliRunner().invoke(hub, ["init", "--db", str(db), "--password", STRONG]).exit_code == 0
    assert HubStore(db).check_user("admin", STRONG) == "admin"
    generated = CliRunner().invoke(hub, ["init", "--db", str(tmp_path / "other.db")])
    assert generated.exit_code == 0, generated.output  # a generated password is always strong enough


def test_add_user_refuses_a_weak_password_or_the_user_name(tmp_path: Path) -> None:
    db = tmp_path / "hub.db"
    assert CliRunner().invoke(hub, ["init", "--db", str(db), "--password", STRONG]).exit_code == 0
    for password in ("1", "zhaoxiaoming", "zhaoxiaoming1"):
        result = CliRunner().invoke(hub, ["add-user", "--db", str(db), "--username", "zhaoxiaoming", "--role", "guard",
                                          "--password", password])
        assert result.exit_code != 0 and "密码太弱" in result.output, password
    assert HubStore(db).user("zhaoxiaoming") is None
    result = CliRunner().invoke(hub, ["add-user", "--db", str(db), "--username", "zhaoxiaoming", "--role", "guard",
                                      "--password", STRONG])
    assert result.exit_code == 0 and HubStore(db).check_user("zhaoxiaoming", STRONG) == "guard"
