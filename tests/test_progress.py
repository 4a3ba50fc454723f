"""Long stages say what is running, how long it should take, and that they are still running."""

from __future__ import annotations

import time

from sdk_gen.progress import Progress, duration, estimate_seconds
from sdk_gen.runtimes import get_runtime


def test_durations_read_as_people_say_them():
    assert [duration(s) for s in (0, 4.6, 59, 60, 125, 3599, 3720)] == [
        "0 s", "5 s", "59 s", "1 min 00 s", "2 min 05 s", "59 min 59 s", "1 h 02 min"]


def test_estimates_interpolate_between_measurements_and_extend_past_them():
    points = ((1e6, 10.0), (1e8, 20.0), (1e9, 110.0))
    assert estimate_seconds(points, 1e5) == 10.0
    assert estimate_seconds(points, 5.05e7) == 15.0
    assert estimate_seconds(points, 2e9) == 210.0  # the last slope, 100 s per billion
    assert estimate_seconds((), 1e9) is None


def test_runtime_estimates_grow_with_the_model():
    llama = get_runtime("llamacpp")
    small, big = (estimate_seconds(llama.convert_timings["q8_0"], n) for n in (26e6, 8.03e9))
    assert small < 5 and 50 <= big <= 56  # Llama 3 8B q8_0 converted in 53 s here
    litert = get_runtime("litert")
    assert estimate_seconds(litert.verify_timings, 2.78e9) == 493.0


def test_a_long_stage_says_it_is_still_running(capsys):
    progress = Progress(heartbeat_seconds=0.05)
    with progress.stage("converting a model", estimate=125):
        time.sleep(0.3)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "==> converting a model (estimate 2 min 05 s)"
    beats = [line for line in lines if "so far" in line]
    assert len(beats) >= 3 and all(line.endswith("(estimate 2 min 05 s)") for line in beats)
    assert lines[-1].startswith("    converting a model: done in ")


def test_quiet_progress_prints_nothing(capsys):
    with Progress(quiet=True, heartbeat_seconds=0.01).stage("x", estimate=3):
        time.sleep(0.05)
    assert capsys.readouterr().out == ""
