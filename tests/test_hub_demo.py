"""`checkpoint demo` starts a broker, the hub and simulated gates that sync to it, and stops them all."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow  # real processes or a browser: outside the fast loop


def test_the_demo_runs_gates_that_sync_to_the_hub_and_stops_cleanly() -> None:
    run = subprocess.run(
        [sys.executable, "-c", "from checkpoint.cli import main; main()", "demo", "--gates", "2", "--port", "0",
         "--pace", "0.3", "--duration", "6", "--feed-every", "1"],
        capture_output=True, text=True, timeout=120,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert re.search(r"中心 hub: http://127\.0\.0\.1:\d+", run.stdout)
    assert "MQTT: 127.0.0.1:" in run.stdout
    held = int(re.search(r"hub holds (\d+) events", run.stdout).group(1))
    decisions = len(re.findall(r"^\[gate-\d\] \d\d:\d\d:\d\d ", run.stdout, flags=re.M))
    assert decisions > 0 and held >= decisions
    # Every gate, the exit too, runs the bundle and trust list the hub distributes (signed by the demo's root key).
    documents = re.search(r"^文件 documents \(running/current\): (.+)$", run.stdout, flags=re.M).group(1)
    per_gate = dict(part.split(" ", 1) for part in documents.split("; "))
    assert sorted(per_gate) == ["exit-1", "gate-1", "gate-2"]
    for gate, versions in per_gate.items():
        pairs = dict(zip(versions.split()[::2], versions.split()[1::2]))
        assert set(pairs) == {"bundle", "trustlist", "roster"}, documents  # the residents' roster too
        assert all(running == current and current != "-" for running, current in
                   (pair.split("/") for pair in pairs.values())), f"{gate} runs {versions}"
    # The residents have holder links; the simulated authority and lab feed the hub, one resident turns yellow.
    assert len(re.findall(r"^持码人 holder .+: http://127\.0\.0\.1:\d+/h/\S+$", run.stdout, flags=re.M)) == 4
    assert "[卫健 authority] 4 statuses stored" in run.stdout and "[检测 lab] 4 statuses stored" in run.stdout
    assert "→ 黄码 yellow" in run.stdout
    # The residents walk up to the gates with the passes their holder pages give.
    shown = [int(n) for n in re.findall(r"^\[(?:gate|exit)-\d\] 汇总 · summary: .* (\d+) with a holder page's pass\)$",
                                        run.stdout, flags=re.M)]
    assert len(shown) == 3 and sum(shown) > 0, run.stdout[-3000:]
    # An exit gate checks no health rule: whoever shows a signed code leaves.
    exits = re.findall(r"^\[exit-1\] \d\d:\d\d:\d\d (.*)$", run.stdout, flags=re.M)
    assert exits and all("EXIT" in line or "REFER" in line for line in exits), exits
    # The exit gate walks out people the entry gates admitted, so its exits free places (a stranger's would not).
    inside, cap, entries, freed = map(int, re.search(
        r"场内 inside (\d+)/(\d+) \(进 entries (\d+), 出 exits (\d+)\)", run.stdout).groups())
    assert freed > 0 and inside == entries - freed and inside <= cap, (inside, cap, entries, freed)


def test_the_demo_falls_back_to_amqtt() -> None:
    run = subprocess.run(
        [sys.executable, "-c", "from checkpoint.cli import main; main()", "demo", "--gates", "1", "--port", "0",
         "--pace", "0.3", "--duration", "4", "--broker", "amqtt"],
        capture_output=True, text=True, timeout=120,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert "(amqtt)" in run.stdout
    assert int(re.search(r"hub holds (\d+) events", run.stdout).group(1)) > 0
