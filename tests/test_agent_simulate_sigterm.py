"""`checkpoint agent simulate` stops on SIGTERM as on Ctrl-C: the summary, a clean exit, the store closed."""

from __future__ import annotations

import signal
import subprocess

import pytest

from tests.test_agent_run import CLI, ENV


@pytest.mark.slow
def test_simulate_ends_cleanly_on_sigterm(tmp_path) -> None:
    store = tmp_path / "sim.sqlite"
    proc = subprocess.Popen([*CLI, "agent", "simulate", "--people", "0", "--pace", "0.2", "--store", str(store)],
                            env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert "kiosk page:" in proc.stdout.readline()
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "summary" in out and "Traceback" not in err
