"""The whole-dataset analysis: its stages run side by side give what they give one by one."""

from __future__ import annotations

import threading

import numpy as np
import pandas as pd
import pytest

from iaf import analysis, demo
from iaf.stats import spc


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
        "spc_limits": a.spc_limits,
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


def test_spc_limits_per_series_are_each_series_xmr(ds) -> None:
    """The limits kept once per series are, row by row, what xmr gives that series alone."""
    a = analysis.analyse(ds)
    res = a.results
    for indicator in ("101a", "103a", "123a"):
        block = a.rows_of(indicator)
        area = str(block["area_code"].iloc[len(block) // 2])
        start = a.indicator_rows[indicator][0]
        positions = start + np.flatnonzero((block["area_code"] == area).to_numpy())
        rows = res.iloc[positions]
        polarity = str(rows["polarity"].iloc[0])
        pts = spc.xmr(
            pd.DataFrame({"series": area, "period": rows["period_end"], "value": rows["value"]}),
            improvement=analysis.IMPROVEMENT.get(polarity, "neutral"),
        )
        limits = a.spc_limits_at(positions)
        for name in analysis.SPC_LIMITS:
            np.testing.assert_array_equal(limits[name].to_numpy(), pts[name].to_numpy())


def test_spc_limits_stay_per_row_when_a_series_has_two_sets() -> None:
    k = analysis._Keys(
        ind=np.array([0, 0, 0, 1, 1], dtype=np.int32),
        ind_labels=np.array(["a", "b"], dtype=object),
        area=np.array([0, 0, 0, 0, 0], dtype=np.int32),
        area_labels=np.array(["X"], dtype=object),
        period=np.array([0, 1, 2, 0, 1], dtype=np.int32),
        period_labels=np.array(["p1", "p2", "p3"], dtype=object),
    )
    same = np.array([1.0, 1.0, 1.0, np.nan, np.nan])
    frame, starts = analysis._per_series(k, (same, same, same))
    assert starts.tolist() == [0, 3]
    assert frame["mean"].tolist()[0] == 1.0 and np.isnan(frame["mean"].iloc[1])
    rebased = np.array([1.0, 1.0, 2.0, 5.0, 5.0])
    frame, starts = analysis._per_series(k, (same, rebased, same))
    assert starts.tolist() == [0, 1, 2, 3, 4]
    assert frame["lpl"].tolist() == rebased.tolist()
