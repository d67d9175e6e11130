"""The whole-dataset analysis: its stages run side by side give what they give one by one."""

from __future__ import annotations

import threading
from itertools import pairwise

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


def _quintile_case(seed: int):
    """Indicator blocks that are and are not grids, with ties, NaN, -0.0 and tiny groups."""
    rng = np.random.default_rng(seed)
    gids, lower = [], []
    base = 0
    shapes = [  # (areas, periods, grid?)
        (40, 6, True),  # a grid
        (3, 4, True),  # a grid of groups with fewer than 5 values: no quintiles
        (1, 5, True),  # one area
        (25, 1, True),  # one period
        (30, 5, False),  # one area misses a period
        (30, 5, "extra"),  # the last area has one more period
        (30, 5, "late"),  # one more area, with only one period
        (12, 7, True),
    ]
    for areas, n_periods, grid in shapes:
        block = np.tile(np.arange(base, base + n_periods), areas)
        if grid is False:
            block = np.delete(block, 2 * n_periods + 1)
        elif grid == "extra":
            block = np.r_[block, base + n_periods]
            n_periods += 1
        elif grid == "late":
            block = np.r_[block, base + 2]
        gids.append(block)
        lower.append(np.full(block.size, rng.random() < 0.5))
        base += n_periods
    gid = np.concatenate(gids).astype(np.int32)
    pool = np.array([0.0, -0.0, 1.5, 2.0, 2.0, 3.25, 7.0, np.nan])
    value = np.where(
        rng.random(gid.size) < 0.5, rng.choice(pool, gid.size), rng.normal(size=gid.size)
    )
    value[gid == 2] = np.nan  # a group with no values
    value[gid == 3] = 4.0  # a group of ties only
    return value, gid, np.concatenate(lower)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("slices", ["whole", "per_block"], ids=["one_range", "ranges"])
def test_quintiles_fast_route_equals_phe_quantile(seed: int, slices: str) -> None:
    value, gid, lower_first = _quintile_case(seed)
    bounds = [(0, len(gid))]
    if slices == "per_block":
        cut = np.flatnonzero(np.diff(lower_first.view(np.int8)) != 0) + 1
        edges = [0, *cut.tolist(), len(gid)]
        bounds = list(pairwise(edges))
    got = analysis._quintiles(value, gid, lower_first, bounds)
    expected = np.zeros(len(gid), dtype=np.int64)
    expected_missing = np.ones(len(gid), dtype=bool)
    for invert, chosen in ((True, ~lower_first), (False, lower_first)):
        q = analysis.benchmark.phe_quantile(
            value[chosen], nquantiles=5, invert=invert, groups=gid[chosen]
        )
        expected[chosen] = q.to_numpy(dtype=np.int64, na_value=0)
        expected_missing[chosen] = q.isna()
    np.testing.assert_array_equal(got.isna(), expected_missing)
    np.testing.assert_array_equal(got.to_numpy(dtype=np.int64, na_value=0), expected)
    assert (~expected_missing).sum() > 100  # quintiles were given, by both routes
    runs = analysis._quintile_grids(gid, lower_first)
    assert any(p for *_, p in runs) and not all(p for *_, p in runs)


@pytest.mark.parametrize("nquantiles", [1, 2, 5, 10])
@pytest.mark.parametrize("invert", [True, False])
def test_row_quantiles_equal_phe_quantile(nquantiles: int, invert: bool) -> None:
    rng = np.random.default_rng(nquantiles)
    vals = rng.choice([np.nan, -1.0, 0.0, 0.5, 0.5, 3.0], size=(9, 23))
    vals[0] = np.nan
    vals[1, 3:] = np.nan  # three values
    vals[2, :12] = rng.uniform(-1, 1, size=12) * 1.7e308  # max − value overflows to inf
    vals[3, 5] = np.inf  # max − value is inf − inf: counted, but given no quantile
    q, missing = analysis.benchmark._row_quantiles(vals, nquantiles, invert)
    groups = np.repeat(np.arange(vals.shape[0]), vals.shape[1])
    with np.errstate(over="ignore", invalid="ignore"):  # max − value overflows, as intended
        expected = analysis.benchmark.phe_quantile(vals.ravel(), nquantiles, invert, groups)
    np.testing.assert_array_equal(missing.ravel(), expected.isna())
    np.testing.assert_array_equal(q.ravel(), expected.to_numpy(dtype=np.int64, na_value=0))
