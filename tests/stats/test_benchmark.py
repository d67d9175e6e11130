"""Tests for iaf.stats.benchmark against PHEindicatormethods 2.1.0 (the Fingertips methods).

Golden values: /work/shared/oracles/phe_funnel_significance.csv, phe_funnel_limits.csv and
phe_quantiles.csv (PHEindicatormethods 2.1.0, commit 093fd288, R 4.2.2; the ``call`` column is
the exact R call), and oracles/upstream_fixtures/PHEindicatormethods/testdata_funnel_* (PHE's
own expectations, printed to fewer decimals — tolerances below say which).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from iaf.errors import InputError
from iaf.stats import benchmark as bm
from tests.conftest import SHARED

TOL = 1e-9
UPSTREAM = "upstream_fixtures/PHEindicatormethods"


def _read(name: str) -> pd.DataFrame:
    try:
        return pd.read_csv(SHARED / "oracles" / name)
    except FileNotFoundError:  # the oracles_dir fixture skips the test
        return pd.DataFrame(columns=["call"])


def _close(actual, expected, tol: float = TOL) -> None:
    actual = np.asarray(actual, dtype=float)
    expected = np.asarray(expected, dtype=float)
    assert np.array_equal(np.isnan(actual), np.isnan(expected))
    ok = np.isnan(expected) | (np.abs(actual - expected) <= tol)
    assert ok.all(), np.nanmax(np.abs(actual - expected))


# ============================================================== compare_with_benchmark


@pytest.mark.parametrize(
    ("lower", "upper", "bench", "polarity", "expected"),
    [
        (11, 12, 10, "no_judgement", "higher"),
        (8, 9, 10, "no_judgement", "lower"),
        (9, 11, 10, "no_judgement", "similar"),
        (10, 12, 10, "no_judgement", "similar"),  # touching the benchmark is not significant
        (8, 10, 10, "no_judgement", "similar"),
        (11, 12, 10, "higher_is_better", "better"),
        (8, 9, 10, "higher_is_better", "worse"),
        (11, 12, 10, "lower_is_better", "worse"),
        (8, 9, 10, "lower_is_better", "better"),
        (9, 11, 10, "lower_is_better", "similar"),
        (np.nan, 11, 10, "higher_is_better", "not compared"),
        (9, 11, np.nan, "higher_is_better", "not compared"),
    ],
    ids=[
        "above",
        "below",
        "overlaps",
        "lower-equals-benchmark",
        "upper-equals-benchmark",
        "hib-above",
        "hib-below",
        "lib-above",
        "lib-below",
        "lib-overlaps",
        "nan-limit",
        "nan-benchmark",
    ],
)
def test_compare_with_benchmark(lower, upper, bench, polarity, expected):
    assert bm.compare_with_benchmark([lower], [upper], bench, polarity)[0] == expected


def test_compare_with_benchmark_vectorised_with_per_row_benchmark():
    out = bm.compare_with_benchmark([1, 5, 9], [2, 6, 10], [3, 5.5, 8], "higher_is_better")
    assert list(out) == ["worse", "similar", "better"]


@settings(max_examples=200, deadline=None)
@given(
    lower=st.floats(-1e6, 1e6),
    width=st.floats(0, 1e6),
    bench=st.floats(-1e6, 1e6),
)
def test_reversing_polarity_swaps_better_and_worse(lower, width, bench):
    upper = lower + width
    hib = bm.compare_with_benchmark([lower], [upper], bench, "higher_is_better")[0]
    lib = bm.compare_with_benchmark([lower], [upper], bench, "lower_is_better")[0]
    swap = {"better": "worse", "worse": "better", "similar": "similar"}
    assert lib == swap[hib]


def test_compare_with_benchmark_validates():
    with pytest.raises(InputError, match="polarity"):
        bm.compare_with_benchmark([1], [2], 1, "up")  # type: ignore[arg-type]
    with pytest.raises(InputError, match=r"lower exceeds upper in 1 row: position 1"):
        bm.compare_with_benchmark([1, 3], [2, 2], 1, "no_judgement")


# ============================================================== funnel significance (oracle)

_SIG = _read("phe_funnel_significance.csv")
_SIG_CALLS = list(dict.fromkeys(_SIG["call"]))


def _significance_for(call: str, rows: pd.DataFrame) -> np.ndarray:
    if "statistic='proportion'" in call:
        return bm.assign_funnel_significance(rows.num, rows.den, "proportion")
    if "statistic='ratio'" in call:
        return bm.assign_funnel_significance(rows.num, rows.den, "ratio")
    rate_type = "dsr" if "rate_type='dsr'" in call else "crude"
    return bm.assign_funnel_significance(
        rows.num, rows.den, "rate", rate=rows.rate, rate_type=rate_type, multiplier=100_000
    )


@pytest.mark.parametrize(
    "call", _SIG_CALLS, ids=["proportion", "ratio", "rate-crude", "rate-dsr"][: len(_SIG_CALLS)]
)
def test_funnel_significance_matches_phe(oracles_dir, call):
    # PHEindicatormethods 2.1.0 assign_funnel_significance(...) with the exact call in the
    # `call` column — phe_funnel_significance.csv. Labels compared exactly, row by row.
    rows = pd.read_csv(oracles_dir / "phe_funnel_significance.csv").query("call == @call")
    got = _significance_for(call, rows)
    assert list(got) == list(rows.significance), list(
        zip(rows.area, got, rows.significance, strict=True)
    )


def test_upstream_funnel_proportion_significance(oracles_dir):
    # PHEindicatormethods tests/testthat/testFunnels.R — assign_funnel_significance(
    # testdata_funnel_prop_inputs, numerator, denominator, statistic = "proportion").
    rows = pd.read_csv(oracles_dir / UPSTREAM / "testdata_funnel_prop_inputs.csv")
    got = bm.assign_funnel_significance(rows.numerator, rows.denominator, "proportion")
    assert list(got) == list(rows.significance)


def test_upstream_funnel_ratio_significance(oracles_dir):
    # PHEindicatormethods tests/testthat/testFunnels.R — assign_funnel_significance(
    # testdata_funnel_ratio_inputs, obs, expected, statistic = "ratio").
    rows = pd.read_csv(oracles_dir / UPSTREAM / "testdata_funnel_ratio_inputs.csv")
    got = bm.assign_funnel_significance(rows.obs, rows.expected, "ratio")
    assert list(got) == list(rows.significance)


def test_dsr_significance_not_applicable_below_ten_events():
    got = bm.assign_funnel_significance(
        [9, 10, 500],
        [1000, 1000, 50_000],
        "rate",
        rate=[900, 1000, 1000],
        rate_type="dsr",
        multiplier=100_000,
    )
    assert got[0] == "Not applicable for events less than 10 for dsrs"
    assert got[1] != got[0]


def test_funnel_significance_missing_row_is_not_compared():
    got = bm.assign_funnel_significance([50, np.nan, 80], [100, 100, 100], "proportion")
    assert got[1] == "not compared"
    assert got[0] != "not compared"


def test_funnel_significance_validates():
    with pytest.raises(InputError, match=r"numerator exceeds denominator in 1 row: position 0"):
        bm.assign_funnel_significance([5], [4], "proportion")
    with pytest.raises(InputError, match="statistic"):
        bm.assign_funnel_significance([5], [4], "mean")  # type: ignore[arg-type]


# ============================================================== funnel limits (oracle)

_LIM = _read("phe_funnel_limits.csv")
_LIM_CALLS = list(dict.fromkeys(_LIM["call"]))


def _limits_for(call: str, sig: pd.DataFrame) -> pd.DataFrame:
    # The funnel-limit calls ran on the same areas as the significance oracle (its baselines
    # are Σnum/Σden of those rows); pick the matching statistic's rows.
    if "statistic='proportion'" in call:
        d = sig[sig.call.str.contains("statistic='proportion'", regex=False)]
        return bm.funnel_limits(d.num, d.den, "proportion", 100)
    if "statistic='ratio'" in call:
        d = sig[sig.call.str.contains("statistic='ratio'", regex=False)]
        return bm.funnel_limits(d.num, d.den, "ratio", 100, ratio_type="isr")
    d = sig[sig.call.str.contains("rate_type='crude'", regex=False)]
    return bm.funnel_limits(
        d.num, d.den, "rate", 100_000, rate=d.rate, rate_type="crude", years_of_data=1
    )


@pytest.mark.parametrize(
    "call", _LIM_CALLS, ids=["proportion", "ratio-isr", "rate-crude"][: len(_LIM_CALLS)]
)
def test_funnel_limits_match_phe(oracles_dir, call):
    # PHEindicatormethods 2.1.0 calculate_funnel_limits(...) with the exact call in the `call`
    # column — phe_funnel_limits.csv (100 rows per call), inputs from phe_funnel_significance.csv.
    sig = pd.read_csv(oracles_dir / "phe_funnel_significance.csv")
    expected = (
        pd.read_csv(oracles_dir / "phe_funnel_limits.csv")
        .query("call == @call")
        .drop(columns="call")
        .dropna(axis=1, how="all")
        .reset_index(drop=True)
    )
    got = _limits_for(call, sig)
    assert set(got.columns) == set(expected.columns)
    for column in expected.columns:
        if expected[column].dtype.kind in "if":
            _close(got[column], expected[column])
        else:
            assert list(got[column]) == list(expected[column]), column


def test_upstream_funnel_proportion_limits(oracles_dir):
    # PHEindicatormethods testFunnels.R — calculate_funnel_limits(testdata_funnel_prop_inputs,
    # numerator, denominator, statistic = "proportion", multiplier = 100) vs
    # testdata_funnel_prop_outputs.csv, which PHE prints to 6 decimal places: tolerance 5e-7.
    inputs = pd.read_csv(oracles_dir / UPSTREAM / "testdata_funnel_prop_inputs.csv")
    expected = pd.read_csv(oracles_dir / UPSTREAM / "testdata_funnel_prop_outputs.csv")
    got = bm.funnel_limits(inputs.numerator, inputs.denominator, "proportion", 100)
    pairs = {
        "Population": "Population",
        "lower_2s_limit": "Lower2s0025limit",
        "upper_2s_limit": "Upper2s0025limit",
        "lower_3s_limit": "Lower3s0001limit",
        "upper_3s_limit": "Upper3s0001limit",
        "baseline": "Baseline",
    }
    for ours, theirs in pairs.items():
        _close(got[ours], expected[theirs], tol=5e-7)


def test_upstream_funnel_ratio_limits(oracles_dir):
    # PHEindicatormethods testFunnels.R — calculate_funnel_limits(testdata_funnel_ratio_inputs,
    # obs, expected, statistic = "ratio", ratio_type = "count" and "isr") vs
    # testdata_funnel_ratio_outputs.csv, printed to 10 significant digits: relative 1e-9.
    inputs = pd.read_csv(oracles_dir / UPSTREAM / "testdata_funnel_ratio_inputs.csv")
    expected = pd.read_csv(oracles_dir / UPSTREAM / "testdata_funnel_ratio_outputs.csv")
    expected.columns = [c.strip() for c in expected.columns]
    count = bm.funnel_limits(inputs.obs, inputs.expected, "ratio", 1, ratio_type="count")
    isr = bm.funnel_limits(inputs.obs, inputs.expected, "ratio", 100, ratio_type="isr")
    n = len(expected)
    for column in ["Observed_events"] + [c for c in expected.columns if c.endswith("exp_events")]:
        got = count[column].to_numpy()[:n]
        _close(got, expected[column], tol=float(np.nanmax(np.abs(expected[column]))) * 1e-9)
    for prefix in ["lower_2s", "upper_2s", "lower_3s", "upper_3s"]:
        for frame, suffix in ((count, "count"), (isr, "isr")):
            want = expected[f"{prefix}_{suffix}"].to_numpy()
            got = frame[f"{prefix}_limit"].to_numpy()[:n]
            _close(got, want, tol=1e-9 * np.abs(want) + 1e-9)


def test_funnel_limits_are_nested_and_bracket_the_baseline(oracles_dir):
    sig = pd.read_csv(oracles_dir / "phe_funnel_significance.csv")
    d = sig[sig.call.str.contains("statistic='proportion'", regex=False)]
    out = bm.funnel_limits(d.num, d.den, "proportion", 100)
    assert (out.lower_3s_limit <= out.lower_2s_limit).all()
    assert (out.lower_2s_limit <= out.baseline).all()
    assert (out.baseline <= out.upper_2s_limit).all()
    assert (out.upper_2s_limit <= out.upper_3s_limit).all()
    assert out.Population.is_monotonic_increasing and len(out) == 100


# ============================================================== quantiles (oracle)

_Q = _read("phe_quantiles.csv")
_Q_CALLS = list(dict.fromkeys(_Q["call"]))


@pytest.mark.parametrize(
    "call", _Q_CALLS, ids=["deciles-inverted", "quintiles", "quartiles-inverted"][: len(_Q_CALLS)]
)
def test_quantiles_match_phe(oracles_dir, call):
    # PHEindicatormethods 2.1.0 phe_quantile(df grouped by grp, value, nquantiles, invert) —
    # phe_quantiles.csv; includes a missing value (A08) and a 6-area group that cannot be split
    # into 10 (all NA).
    rows = pd.read_csv(oracles_dir / "phe_quantiles.csv").query("call == @call")
    got = bm.phe_quantile(rows.value, int(rows.nquantiles.iloc[0]), "invert=TRUE" in call, rows.grp)
    expected = pd.array(rows["quantile"], dtype="Int64")
    assert list(got.fillna(-1)) == list(expected.fillna(-1)), list(
        zip(rows.area, got, expected, strict=True)
    )


def test_quantile_basics():
    out = bm.phe_quantile([1, 2, 3, 4], nquantiles=4)
    assert list(out) == [1, 2, 3, 4]
    assert list(bm.phe_quantile([1, 2, 3, 4], nquantiles=4, invert=True)) == [4, 3, 2, 1]
    assert list(bm.phe_quantile([5, 5, 5, 5], nquantiles=2)) == [1, 1, 1, 1]
    too_few = bm.phe_quantile([1, 2, 3], nquantiles=4)
    assert too_few.isna().all()
    with_nan = bm.phe_quantile([1, np.nan, 2, 3, 4], nquantiles=4)
    assert pd.isna(with_nan[1]) and list(with_nan[[0, 2, 3, 4]]) == [1, 2, 3, 4]


def test_quantile_validates():
    with pytest.raises(InputError, match="nquantiles"):
        bm.phe_quantile([1, 2], nquantiles=0)
    with pytest.raises(InputError, match="groups"):
        bm.phe_quantile([1, 2], nquantiles=1, groups=["a"])


@settings(max_examples=100, deadline=None)
@given(
    values=st.lists(st.floats(-1e6, 1e6), min_size=10, max_size=60),
    nq=st.integers(1, 10),
)
def test_quantiles_in_range_and_monotone(values, nq):
    out = bm.phe_quantile(values, nquantiles=nq).to_numpy(dtype=float)
    assert ((out >= 1) & (out <= nq)).all()
    order = np.argsort(values, kind="stable")
    assert (np.diff(out[order]) >= 0).all()
