"""The one reading check (protocols/readings.py): its band, the gate's [measure.limits], decide's options."""

from __future__ import annotations

import math

import pytest
from click.testing import CliRunner
from pydantic import ValidationError

from agent.config import error_lines
from checkpoint.cli import main
from protocols.readings import ReadingLimits, remeasure_reason
from tests.agent_gate_helpers import gate_config


@pytest.mark.parametrize(("celsius", "why"), [
    (-5.0, "reading_implausible"), (29.0, "reading_implausible"), (33.9, "reading_implausible"),
    (34.0, "reading_low"), (35.4, "reading_low"), (35.5, None), (37.3, None), (42.5, None),
    (42.6, "reading_implausible"), (math.nan, "reading_implausible"),
])
def test_the_band(celsius, why):
    assert remeasure_reason(celsius) == why


def test_the_gate_takes_its_band_from_measure_limits(tmp_path):
    cfg = gate_config(tmp_path, measure={"limits": {"remeasure_below_c": 36.0}})
    assert remeasure_reason(35.8, cfg.measure.limits) == "reading_low"


def test_an_out_of_order_band_is_refused_naming_its_keys(tmp_path):
    with pytest.raises(ValidationError) as caught:
        gate_config(tmp_path, measure={"limits": {"plausible_min_c": 36.0, "remeasure_below_c": 35.0}})
    (line,) = error_lines(caught.value)
    assert line.startswith("measure.limits: ") and "plausible_min_c" in line and "remeasure_below_c" in line
    with pytest.raises(ValidationError) as caught:
        gate_config(tmp_path, measure={"limits": {"plausible_max": 40.0}})
    assert error_lines(caught.value)[0].startswith("measure.limits.plausible_max: ")


def test_decide_refuses_an_out_of_order_band_naming_its_options(tmp_path):
    result = CliRunner().invoke(main, ["decide", "--bundle", str(tmp_path / "b.json"), "--trust", str(tmp_path / "t.json"),
                                       "--code", "HP1:x", "--plausible-min-c", "36", "--remeasure-below-c", "35"])
    assert result.exit_code == 2 and "--plausible-min-c/--plausible-max-c/--remeasure-below-c" in result.output
    assert "Traceback" not in result.output


def test_limits_are_bounded():
    with pytest.raises(ValidationError):
        ReadingLimits(plausible_min_c=0.0)
