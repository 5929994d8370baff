"""`checkpoint decide` and `checkpoint rules ...` end to end: real keys, real codes, real QR images."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from protocols.bundle import build_bundle, parse_risk_areas
from checkpoint.cli import main
from protocols.credential import Credential
from protocols.decision import GateContext, decision_inputs, evaluate
from protocols.rules import load_pack

NOW = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


def iso(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    d = tmp_path_factory.mktemp("decide")
    assert run("codes", "keygen", "--out", str(d / "keys"))[0] == 0
    (d / "risk.json").write_text(json.dumps({"regions": [{"region": "110105", "level": "high"}], "provinces": ["440000"]}))
    code, out = run("rules", "bundle", "--pack", "factory-gate", "--risk-areas", str(d / "risk.json"),
                    "--key", str(d / "keys" / "root-key.pem"), "--out", str(d / "bundle.json"),
                    "--valid-from", iso(NOW - dt.timedelta(hours=1)))  # NOW was taken before the bundle was built
    assert code == 0, out
    return d


def mint(env: Path, *args: str) -> str:
    code, out = run("codes", "mint", "--key", str(env / "keys" / "issuer-key.pem"), "--issued-at", iso(NOW - dt.timedelta(minutes=1)), *args)
    assert code == 0, out
    return out.strip().splitlines()[-1]


def decide(env: Path, *args: str, at: dt.datetime = NOW) -> dict:
    code, out = run("decide", "--bundle", str(env / "bundle.json"), "--trust", str(env / "keys" / "trust-list.json"), "--at", iso(at), *args)
    assert code == 0, out
    return json.loads(out)


def rules_of(result: dict) -> list[tuple[str, str]]:
    return [(r["rule"], r["outcome"]) for r in result["reasons"]]


def test_green_staff_is_admitted_and_the_output_has_the_promised_shape(env):
    result = decide(env, "--code", mint(env), "--celsius", "36.6", "--mask", "yes")
    assert result["decision"] == "admit" and result["reasons"] == []
    assert {"decision", "reasons", "bundle_version", "ms"} <= set(result)
    assert result["bundle_version"].startswith("factory-gate-") and result["ms"] >= 0


def test_fever_protocol_first_reading_then_re_measure(env):
    text = mint(env)
    first = decide(env, "--code", text, "--celsius", "37.3", "--mask", "yes")
    assert first["decision"] == "deny" and rules_of(first) == [("GATE-TEMP-01", "FAIL")] and first["flags"] == ["needs_remeasure"]
    reason = first["reasons"][0]
    assert "37.3" in reason["message_zh"] and reason["message_en"]
    assert decide(env, "--code", text, "--celsius", "37.3", "--remeasure", "36.9", "--mask", "yes")["decision"] == "admit"
    second = decide(env, "--code", text, "--celsius", "37.5", "--remeasure", "37.4", "--mask", "yes")
    assert rules_of(second) == [("GATE-TEMP-02", "FAIL")] and second["flags"] == ["fever"]


def test_a_qr_image_decides_like_its_text(env, tmp_path):
    text = mint(env, "--colour", "yellow", "--png", str(tmp_path / "code.png"))
    by_text = decide(env, "--code", text, "--celsius", "36.6", "--mask", "yes")
    by_image = decide(env, "--image", str(tmp_path / "code.png"), "--celsius", "36.6", "--mask", "yes")
    assert rules_of(by_text) == rules_of(by_image) == [("GATE-COLOUR-02", "FAIL")]


def test_an_image_without_a_code_is_unreadable(env, tmp_path):
    from PIL import Image

    Image.new("L", (200, 200), 255).save(tmp_path / "blank.png")
    result = decide(env, "--image", str(tmp_path / "blank.png"), "--celsius", "36.6", "--mask", "yes")
    assert result["decision"] == "deny" and rules_of(result) == [("GATE-CODE-01", "FAIL")]


@pytest.mark.parametrize("text", ["garbage", "HP1:NOT-BASE45!!", ""])
def test_garbage_is_a_clean_denial(env, text):
    assert rules_of(decide(env, "--code", text, "--celsius", "36.6", "--mask", "yes")) == [("GATE-CODE-01", "FAIL")]


def test_a_code_from_an_untrusted_issuer_is_denied(env, tmp_path):
    assert run("codes", "keygen", "--out", str(tmp_path / "rogue"))[0] == 0
    code, out = run("codes", "mint", "--key", str(tmp_path / "rogue" / "issuer-key.pem"))
    result = decide(env, "--code", out.strip(), "--celsius", "36.6", "--mask", "yes")
    assert rules_of(result) == [("GATE-CODE-01", "FAIL")]


def test_an_expired_code_and_a_stale_screenshot(env):
    expired = mint(env, "--valid-minutes", "30")
    assert rules_of(decide(env, "--code", expired, "--celsius", "36.6", "--mask", "yes", at=NOW + dt.timedelta(minutes=40))) == [("GATE-CODE-02", "FAIL")]
    screenshot = mint(env, "--valid-minutes", "120")
    assert decide(env, "--code", screenshot, "--celsius", "36.6", "--mask", "yes", at=NOW + dt.timedelta(minutes=9))["decision"] == "admit"
    late = decide(env, "--code", screenshot, "--celsius", "36.6", "--mask", "yes", at=NOW + dt.timedelta(minutes=30))
    assert rules_of(late) == [("GATE-CODE-03", "FAIL")]


def test_a_visitor_needs_the_appointment_window(env, tmp_path):
    text = mint(env, "--class", "visitor", "--subject", "V-1", "--test-hours-ago", "20")
    window = {"subject": "V-1", "from": iso(NOW - dt.timedelta(minutes=30)), "to": iso(NOW + dt.timedelta(hours=2)), "approvedBy": "王*华"}
    (tmp_path / "appt.json").write_text(json.dumps([{"subject": "other"}, window]))
    ok = decide(env, "--code", text, "--celsius", "36.6", "--mask", "yes", "--appointment", str(tmp_path / "appt.json"))
    assert ok["decision"] == "admit"
    later = {**window, "from": iso(NOW + dt.timedelta(hours=1)), "to": iso(NOW + dt.timedelta(hours=3))}
    (tmp_path / "later.json").write_text(json.dumps(later))
    early = decide(env, "--code", text, "--celsius", "36.6", "--mask", "yes", "--appointment", str(tmp_path / "later.json"))
    assert rules_of(early) == [("GATE-VISIT-01", "FAIL")]
    assert rules_of(decide(env, "--code", text, "--celsius", "36.6", "--mask", "yes")) == [("GATE-VISIT-01", "FAIL")]


def test_closed_mode_admits_the_roster_only(env, tmp_path):
    text = mint(env, "--subject", "S-42")
    (tmp_path / "roster.json").write_text(json.dumps(["S-1", "S-42"]))
    (tmp_path / "other.json").write_text(json.dumps({"subjects": ["S-1"]}))
    base = ["--code", text, "--celsius", "36.6", "--mask", "yes", "--venue-mode", "closed"]
    assert decide(env, *base, "--roster", str(tmp_path / "roster.json"))["decision"] == "admit"
    assert rules_of(decide(env, *base, "--roster", str(tmp_path / "other.json"))) == [("GATE-CLOSED-01", "FAIL")]
    assert rules_of(decide(env, *base)) == [("GATE-CLOSED-01", "OPEN")]


def test_missing_inputs_are_open_not_passed(env):
    result = decide(env, "--code", mint(env))
    assert result["decision"] == "refer"
    assert rules_of(result) == [("GATE-TEMP-01", "OPEN"), ("GATE-MASK-01", "OPEN")]


def test_a_tampered_or_too_old_bundle_is_refused_with_one_line(env, tmp_path):
    doc = json.loads((env / "bundle.json").read_text())
    doc["body"]["params"] = {"feverDeci": 420}
    (tmp_path / "tampered.json").write_text(json.dumps(doc))
    args = ["--trust", str(env / "keys" / "trust-list.json"), "--code", mint(env), "--celsius", "36.6", "--mask", "yes"]
    result = CliRunner().invoke(main, ["decide", "--bundle", str(tmp_path / "tampered.json"), *args])
    assert result.exit_code == 1 and "does not verify" in result.output and "Traceback" not in result.output
    result = CliRunner().invoke(main, ["decide", "--bundle", str(env / "bundle.json"), *args, "--at", iso(NOW + dt.timedelta(hours=25))])
    assert result.exit_code == 1 and "too old" in result.output
    result = CliRunner().invoke(main, ["decide", "--bundle", str(env / "bundle.json"), *args, "--max-bundle-age-hours", "0.00001"])
    assert result.exit_code == 1 and "too old" in result.output


def test_decide_wants_exactly_one_code_source(env):
    result = CliRunner().invoke(main, ["decide", "--bundle", str(env / "bundle.json"), "--trust", str(env / "keys" / "trust-list.json")])
    assert result.exit_code == 2 and "exactly one of --code or --image" in result.output


def test_the_installed_entry_point_decides(env):
    exe = Path(sys.executable).parent / "checkpoint"
    proc = subprocess.run(
        [str(exe), "decide", "--bundle", str(env / "bundle.json"), "--trust", str(env / "keys" / "trust-list.json"),
         "--code", mint(env), "--celsius", "36.6", "--mask", "yes", "--at", iso(NOW)],
        capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["decision"] == "admit"


# ---------------------------------------------------------------- checkpoint rules ...


def test_rules_eval_prints_json_and_errors_as_json(tmp_path):
    (tmp_path / "expr.json").write_text(json.dumps({"plusTime": [{"var": "t"}, 48, "hour"]}))
    (tmp_path / "data.json").write_text(json.dumps({"t": "2026-11-27T08:00:00+08:00"}))
    code, out = run("rules", "eval", "--expr", str(tmp_path / "expr.json"), "--data", str(tmp_path / "data.json"))
    assert code == 0 and json.loads(out) == "2026-11-29T00:00:00.000Z"
    (tmp_path / "data.json").write_text(json.dumps({"t": 5}))
    result = CliRunner().invoke(main, ["rules", "eval", "--expr", str(tmp_path / "expr.json"), "--data", str(tmp_path / "data.json")])
    assert result.exit_code == 1 and "must be a string" in json.loads(result.output)["error"]


def test_rules_eval_cases_prints_one_line_per_case(tmp_path):
    lines = [
        {"expr": {"and": [{"var": "a"}, {"var": "b"}]}, "data": {"a": 1, "b": "x"}},
        {"expr": {"<": [{"var": "a"}, 2]}, "data": {"a": 1.5}},
        "not an object",
        {"expr": {"in": ["x", ["x", "y"]]}, "data": None},
    ]
    text = "\n".join(json.dumps(x) for x in lines) + "\n{broken json\n"
    (tmp_path / "cases.jsonl").write_text(text)
    code, out = run("rules", "eval", "--cases", str(tmp_path / "cases.jsonl"))
    results = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and len(results) == 5
    assert results[0] == "x" and results[3] is True
    assert all("error" in results[i] for i in (1, 2, 4))


def test_rules_show_lists_every_rule_in_both_languages(env):
    code, out = run("rules", "show", "--bundle", str(env / "bundle.json"), "--root-pub", str(env / "keys" / "root-pub.pem"))
    assert code == 0
    for rule in load_pack("factory-gate").rules:
        assert rule.id in out
    assert "红码" in out and "Red code" in out and "verified" in out


def test_rules_show_with_the_wrong_root_key_refuses(env, tmp_path):
    assert run("codes", "keygen", "--out", str(tmp_path / "k"))[0] == 0
    result = CliRunner().invoke(main, ["rules", "show", "--bundle", str(env / "bundle.json"), "--root-pub", str(tmp_path / "k" / "root-pub.pem")])
    assert result.exit_code == 1 and "Error" in result.output


def test_rules_bundle_refuses_unknown_parameters_and_packs(env, tmp_path):
    (tmp_path / "params.json").write_text(json.dumps({"feverCelsius": 37.3}))
    key = str(env / "keys" / "root-key.pem")
    result = CliRunner().invoke(main, ["rules", "bundle", "--pack", "factory-gate", "--params", str(tmp_path / "params.json"), "--key", key, "--out", str(tmp_path / "b.json")])
    assert result.exit_code == 1 and "feverCelsius" in result.output
    result = CliRunner().invoke(main, ["rules", "bundle", "--pack", "casino", "--key", key, "--out", str(tmp_path / "b.json")])
    assert result.exit_code == 1 and "no policy pack" in result.output


def test_rules_backtest_lists_the_decisions_a_new_bundle_would_change(env, tmp_path):
    risk = parse_risk_areas({"regions": [], "provinces": []})
    old = build_bundle(load_pack("market-entrance"), {}, risk)
    vendor = {"format": "HP1", "issuer": "x", "kid": "k", "issued_at": NOW - dt.timedelta(minutes=1),
              "expires_at": NOW + dt.timedelta(hours=1), "subject": "S", "name": "王*", "person_class": "vendor", "colour": "green"}
    records = []
    for hours in (10, 60, 100):
        cred = Credential(**vendor, test={"at": NOW - dt.timedelta(hours=hours), "result": "negative"})
        ctx = GateContext(at=NOW, celsius=36.5, mask=True, inside=False)
        records.append({"id": f"E{hours}", "at": iso(NOW), "decision": evaluate(old, cred, ctx).decision, "inputs": decision_inputs(old, cred, ctx)})
    (tmp_path / "events.jsonl").write_text("\n".join(json.dumps(r) for r in records) + "\nnot json\n")
    (tmp_path / "params.json").write_text(json.dumps({"testMaxHours": 48}))
    code, out = run("rules", "bundle", "--pack", "market-entrance", "--params", str(tmp_path / "params.json"),
                    "--key", str(env / "keys" / "root-key.pem"), "--out", str(tmp_path / "new.json"))
    assert code == 0, out
    code, out = run("rules", "backtest", "--bundle", str(tmp_path / "new.json"), "--events", str(tmp_path / "events.jsonl"),
                    "--root-pub", str(env / "keys" / "root-pub.pem"))
    lines = [json.loads(line) for line in out.splitlines()]
    assert code == 0
    assert [(x["id"], x["was"], x["now"], x["reasons"]) for x in lines[:-1]] == [("E60", "admit", "deny", ["GATE-TEST-01"])]
    assert lines[-1]["replayed"] == 3 and lines[-1]["changed"] == 1 and lines[-1]["skipped"] == 1


def test_a_bad_schedule_file_is_one_clear_line_naming_it(env, tmp_path, monkeypatch):
    from protocols.keys import load_private_key
    from protocols.schedule import parse_schedule, sign_schedule

    code = mint(env)
    base = ["decide", "--bundle", str(env / "bundle.json"), "--trust", str(env / "keys" / "trust-list.json"),
            "--code", code, "--celsius", "36.5", "--mask", "yes", "--at", iso(NOW)]
    signed = sign_schedule(parse_schedule({"issued_at": iso(NOW)}), load_private_key(env / "keys" / "root-key.pem"))
    cases = {"unsigned.json": {"body": signed["body"]},
             "tampered.json": {**signed, "body": {**signed["body"], "timezone": "UTC"}},
             "garbage.json": "not a schedule"}
    for name, doc in cases.items():
        (tmp_path / name).write_text(json.dumps(doc))
        result = CliRunner().invoke(main, [*base, "--schedule", str(tmp_path / name)], env={"CHECKPOINT_SUBJECT_KEY": "k" * 20})
        assert result.exit_code != 0 and str(tmp_path / name) in result.output, result.output
        assert "Traceback" not in result.output and result.exception is None or isinstance(result.exception, SystemExit)
    (tmp_path / "good.json").write_text(json.dumps(signed))
    monkeypatch.delenv("CHECKPOINT_SUBJECT_KEY", raising=False)
    result = CliRunner().invoke(main, [*base, "--schedule", str(tmp_path / "good.json")])
    assert result.exit_code != 0 and "CHECKPOINT_SUBJECT_KEY" in result.output, result.output
