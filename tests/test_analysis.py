"""The whole-dataset analysis: its stages run side by side give what they give one by one."""

from __future__ import annotations

import threading

import pandas as pd
import pytest

from iaf import analysis, demo


@pytest.fixture(scope="module")
def ds():
    return demo.generate(n_areas=demo.MIN_AREAS)


def _frames(a: analysis.Analysis) -> dict[str, pd.DataFrame]:
    return {
        "results": a.results,
        "comparators": a.comparators,
        "funnels": a.funnels,
        "trends": a.trends,
        "periods": a.periods,
    }


def test_threaded_analysis_equals_one_stage_at_a_time(ds, monkeypatch) -> None:
    monkeypatch.setattr(analysis, "_workers", lambda: 2)  # two threads even on one core
    threaded = analysis.analyse(ds)
    monkeypatch.setattr(analysis, "_workers", lambda: 1)
    sequential = analysis.analyse(ds)
    assert threaded.indicator_rows == sequential.indicator_rows
    for name, frame in _frames(threaded).items():
        pd.testing.assert_frame_equal(frame, _frames(sequential)[name], check_exact=True)


@pytest.mark.parametrize("workers", [1, 2])
def test_stages_take_their_inputs_in_order(workers: int) -> None:
    threads: set[str] = set()

    def stage(label: str):
        def run(*inputs: str) -> str:
            threads.add(threading.current_thread().name)
            return label + "(" + ",".join(inputs) + ")"

        return run

    done = analysis._run_stages(
        {
            "a": (stage("a"), ()),
            "b": (stage("b"), ()),
            "c": (stage("c"), ("b", "a")),
            "d": (stage("d"), ("c",)),
        },
        workers,
    )
    assert done == {"a": "a()", "b": "b()", "c": "c(b(),a())", "d": "d(c(b(),a()))"}
    assert all(name.startswith("analyse") for name in threads) == (workers > 1)


@pytest.mark.parametrize("workers", [1, 2])
def test_a_failing_stage_raises_its_own_error(workers: int) -> None:
    def fail() -> None:
        raise ValueError("rows 3, 4: numerator above denominator")

    with pytest.raises(ValueError, match="rows 3, 4"):
        analysis._run_stages({"ok": (lambda: 1, ()), "bad": (fail, ())}, workers)


def test_a_stage_waiting_for_a_missing_input_is_named() -> None:
    with pytest.raises(ValueError, match="nobody makes: \\['orphan'\\]"):
        analysis._run_stages({"orphan": (lambda x: x, ("missing",))}, 2)
