"""Tests for iaf.stats.ci against PHEindicatormethods 2.1.0 (the Fingertips methods).

Golden values: /work/shared/oracles/phe_*.csv (PHEindicatormethods 2.1.0, commit 093fd288, run in
R 4.2.2; each row's ``call`` column is the exact R call) and
oracles/upstream_fixtures/PHEindicatormethods/ (PHE's own test data: expectations from its
validated Excel tools). Tolerance 1e-9 absolute: the CSVs print 15 significant digits, so the
largest values (~1.6e5) carry up to 5e-10 of rounding, inside the tolerance.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from iaf.errors import InputError
from iaf.stats import ci
from tests.conftest import SHARED

TOL = 1e-9
UPSTREAM = Path("upstream_fixtures") / "PHEindicatormethods"


def _close(actual, expected, tol: float = TOL) -> None:
    """NaN must match NaN; numbers must agree within tol."""
    actual = np.asarray(actual, dtype=float)
    expected = np.asarray(expected, dtype=float)
    assert np.array_equal(np.isnan(actual), np.isnan(expected)), (actual, expected)
    ok = np.isnan(expected) | (np.abs(actual - expected) <= tol)
    assert ok.all(), (actual, expected)


def _oracle(name: str) -> pd.DataFrame:
    # Row counts are needed at collection time for readable parametrised ids; when ../shared is
    # absent the list is empty and the oracles_dir fixture skips the golden tests.
    return pd.read_csv(SHARED / "oracles" / name)


def _ids(frame: pd.DataFrame, *cols: str) -> list[str]:
    return ["-".join(str(r[c]) for c in cols) for _, r in frame.iterrows()]


def _rows_or_empty(name: str) -> pd.DataFrame:
    try:
        return _oracle(name)
    except FileNotFoundError:
        return pd.DataFrame()


# ============================================================== golden: PHE oracle files

# call → (confidence, multiplier), read off the `call` column of each oracle file.
PROPORTION_CALLS = {
    "phe_proportion(x, n, confidence = c(0.95, 0.998), multiplier = 1)": ((0.95, 0.998), 1),
    "phe_proportion(x, n, confidence = 0.95, multiplier = 100)": (0.95, 100),
    "phe_proportion(x, n, confidence = 0.90, multiplier = 1)": (0.90, 1),
}
RATE_CALLS = {
    "phe_rate(x, n, confidence = c(0.95, 0.998), multiplier = 100000)": ((0.95, 0.998), 100_000),
    "phe_rate(x, n, confidence = 0.95, multiplier = 1000)": (0.95, 1000),
    "phe_rate(x, n = 1, confidence = c(0.95, 0.998), multiplier = 1)  # CI of a count": (
        (0.95, 0.998),
        1,
    ),
}

_PROP = _rows_or_empty("phe_proportion_wilson.csv")
_RATE = _rows_or_empty("phe_rate_byars.csv")


def _expected_limits(row: pd.Series) -> tuple[list[float], list[float]]:
    if isinstance(row.get("lower95_0cl"), float) and not math.isnan(row["lower95_0cl"]):
        return [row.lower95_0cl, row.lower99_8cl], [row.upper95_0cl, row.upper99_8cl]
    return [row.lowercl], [row.uppercl]


@pytest.mark.parametrize(
    "i", range(len(_PROP)), ids=_ids(_PROP, "case", "confidence") if len(_PROP) else []
)
def test_wilson_matches_phe_proportion(oracles_dir, i):
    # PHEindicatormethods 2.1.0 phe_proportion(x, n, confidence, multiplier)
    # — phe_proportion_wilson.csv
    row = _oracle("phe_proportion_wilson.csv").iloc[i]
    confidence, multiplier = PROPORTION_CALLS[row.call]
    lower, upper = ci.wilson_ci([row.x], [row.n], confidence)
    exp_lower, exp_upper = _expected_limits(row)
    _close(np.ravel(lower) * multiplier, exp_lower)
    _close(np.ravel(upper) * multiplier, exp_upper)
    assert row.method == "Wilson"
    _close(row.x / row.n * multiplier, row.value)


@pytest.mark.parametrize(
    "i", range(len(_RATE)), ids=_ids(_RATE, "case", "confidence") if len(_RATE) else []
)
def test_rate_matches_phe_rate(oracles_dir, i):
    # PHEindicatormethods 2.1.0 phe_rate(x, n, confidence, multiplier) — phe_rate_byars.csv
    row = _oracle("phe_rate_byars.csv").iloc[i]
    confidence, multiplier = RATE_CALLS[row.call]
    lower, upper = ci.rate_ci([row.x], [row.n], confidence, multiplier)
    exp_lower, exp_upper = _expected_limits(row)
    _close(np.ravel(lower), exp_lower)
    _close(np.ravel(upper), exp_upper)
    assert ci.poisson_method([row.x])[0] == row.method


@pytest.mark.parametrize(
    "i", range(len(_RATE)), ids=_ids(_RATE, "case", "confidence") if len(_RATE) else []
)
def test_indicator_cis_rate_and_count_match_phe_rate(oracles_dir, i):
    # Same oracle rows through the tidy helper: "count" is phe_rate(x, n = 1, multiplier = 1).
    row = _oracle("phe_rate_byars.csv").iloc[i]
    confidence, multiplier = RATE_CALLS[row.call]
    is_count = row.call.startswith("phe_rate(x, n = 1")
    out = ci.indicator_cis(
        [row.x],
        None if is_count else [row.n],
        "count" if is_count else "rate",
        multiplier,
        confidence,
    )
    exp_lower, exp_upper = _expected_limits(row)
    _close(out["value"], [row.value])
    _close(out.filter(like="lower_").iloc[0], exp_lower)
    _close(out.filter(like="upper_").iloc[0], exp_upper)
    assert out["method"].iloc[0] == row.method


def test_isr_matches_calculate_isratio_and_israte(oracles_dir):
    # PHEindicatormethods 2.1.0 calculate_ISRatio(obs, pop, ref_x, ref_n, refpoptype='field',
    # confidence=c(0.95,0.998), refvalue=1), (..., confidence=0.95, refvalue=100) and
    # calculate_ISRate(..., confidence=c(0.95,0.998), multiplier=100000)
    # — phe_isr_inputs.csv / phe_isr_outputs.csv
    inputs = pd.read_csv(oracles_dir / "phe_isr_inputs.csv")
    outputs = pd.read_csv(oracles_dir / "phe_isr_outputs.csv")
    expected = ci.expected_counts(inputs["pop"], inputs["ref_x"], inputs["ref_n"], inputs["area"])
    observed = inputs.groupby("area", sort=False)["obs"].sum()
    ref_rate = inputs.query("area == 'A_big'").pipe(lambda d: d.ref_x.sum() / d.ref_n.sum() * 1e5)
    for call, rows in outputs.groupby("call", sort=False):
        rows = rows.set_index("area")
        exp_ = expected[rows.index].to_numpy()
        obs = observed[rows.index].to_numpy()
        _close(exp_, rows["expected"])
        _close(obs, rows["observed"])
        if call.startswith("calculate_ISRate"):
            _close(np.full(len(rows), ref_rate), rows["ref_rate"])
            refvalue, confidence = ref_rate, (0.95, 0.998)
        elif "refvalue=100" in call:
            refvalue, confidence = 100, 0.95
        else:
            refvalue, confidence = 1, (0.95, 0.998)
        lower, upper = ci.isr_ci(obs, exp_, confidence, refvalue)
        _close(obs / exp_ * refvalue, rows["value"])
        if np.ndim(confidence):
            _close(lower, rows[["lower95_0cl", "lower99_8cl"]].T)
            _close(upper, rows[["upper95_0cl", "upper99_8cl"]].T)
        else:
            _close(lower, rows["lowercl"])
            _close(upper, rows["uppercl"])
        assert list(ci.poisson_method(obs)) == list(rows["method"])


@pytest.mark.parametrize("confidence", [(0.95, 0.998), 0.95], ids=["95+998", "95"])
def test_dsr_matches_calculate_dsr(oracles_dir, confidence):
    # PHEindicatormethods 2.1.0 calculate_dsr(obs, pop, stdpop=esp2013, confidence=...,
    # multiplier=100000) — phe_dsr_inputs.csv / phe_dsr_outputs.csv (NA for total count < 10)
    inputs = pd.read_csv(oracles_dir / "phe_dsr_inputs.csv")
    outputs = pd.read_csv(oracles_dir / "phe_dsr_outputs.csv")
    call = f"confidence={'c(0.95,0.998)' if np.ndim(confidence) else '0.95'},"
    rows = outputs[outputs.call.str.contains(call, regex=False)].set_index("area")
    got = ci.dsr_dobson(
        inputs["obs"], inputs["pop"], inputs["esp2013"], inputs["area"], confidence, 100_000
    ).loc[rows.index]
    _close(got["total_count"], rows["total_count"])
    _close(got["total_pop"], rows["total_pop"])
    _close(got["value"], rows["value"])
    if np.ndim(confidence):
        pairs = {"lower_95": "lower95_0cl", "upper_95": "upper95_0cl"}
        pairs |= {"lower_998": "lower99_8cl", "upper_998": "upper99_8cl"}
    else:
        pairs = {"lower_95": "lowercl", "upper_95": "uppercl"}
    for ours, theirs in pairs.items():
        _close(got[ours], rows[theirs])
    assert list(got["method"]) == list(rows["method"])
    assert np.isnan(got.loc["C_lt10_total", "value"])


def test_mean_matches_phe_mean(oracles_dir):
    # PHEindicatormethods 2.1.0 phe_mean(values, confidence=c(0.95,0.998)) — phe_mean.csv
    rows = pd.read_csv(oracles_dir / "phe_mean.csv")
    value = rows.value_sum / rows.value_count
    _close(value, rows["value"])
    lower, upper = ci.mean_ci(value, rows.stdev, rows.value_count, (0.95, 0.998))
    _close(lower, rows[["lower95_0cl", "lower99_8cl"]].T)
    _close(upper, rows[["upper95_0cl", "upper99_8cl"]].T)


# ============================================================== golden: PHE upstream fixtures


def test_upstream_byars_and_wilson(oracles_dir):
    # PHEindicatormethods tests/testthat/testByars.R & testWilson.R
    # — testdata_Byars_Wilson__testdata_B_W.csv
    # (PHE's Excel-tool expectations). Byar's is applied at every count here, including x = 1,
    # and a negative Byar's lower limit is NA (x = 1 at 99.8%).
    data = pd.read_csv(oracles_dir / UPSTREAM / "testdata_Byars_Wilson__testdata_B_W.csv")
    for (method, conf), rows in data.groupby(["method", "confidence"]):
        level = float(conf.rstrip("%")) / 100
        if method == "Byars":
            lower, upper = ci.byars_ci(rows.x, level)
        else:
            lower, upper = ci.wilson_ci(rows.x, rows.n, level)
        _close(lower, rows.lowercl)
        _close(upper, rows.uppercl)


@pytest.mark.parametrize("multiplier", [1, 100])
def test_upstream_proportions(oracles_dir, multiplier):
    # PHEindicatormethods tests/testthat/testProportions.R — testdata_Proportion__testdata_Prop.csv
    # phe_proportion(df, Numerator, Denominator, confidence = c(0.95, 0.998), multiplier = m);
    # rows with a missing numerator or denominator give NA everywhere.
    data = pd.read_csv(oracles_dir / UPSTREAM / "testdata_Proportion__testdata_Prop.csv")
    rows = data[data.multiplier == multiplier]
    out = ci.indicator_cis(rows.Numerator, rows.Denominator, "proportion", multiplier)
    _close(out["value"], rows["value"])
    for ours, theirs in {
        "lower_95": "lower95_0cl",
        "upper_95": "upper95_0cl",
        "lower_998": "lower99_8cl",
        "upper_998": "upper99_8cl",
    }.items():
        _close(out[ours], rows[theirs])


def test_upstream_proportions_grouped(oracles_dir):
    # PHEindicatormethods testProportions.R, grouped input (numerators/denominators summed per
    # area) — testdata_Proportion__testdata_Prop_g.csv, confidence 0.95, multiplier 1.
    rows = pd.read_csv(oracles_dir / UPSTREAM / "testdata_Proportion__testdata_Prop_g.csv")
    out = ci.indicator_cis(rows.Numerator, rows.Denominator, "proportion", 1, 0.95)
    _close(out["value"], rows["value"])
    _close(out["lower_95"], rows["lowercl"])
    _close(out["upper_95"], rows["uppercl"])


@pytest.mark.parametrize("multiplier", [100, 100_000])
def test_upstream_rates(oracles_dir, multiplier):
    # PHEindicatormethods tests/testthat/testRates.R — testdata_Rate__testdata_Rate.csv
    # phe_rate(df, Numerator, Denominator, confidence = c(0.95, 0.998), multiplier = m).
    data = pd.read_csv(oracles_dir / UPSTREAM / "testdata_Rate__testdata_Rate.csv")
    rows = data[data.multiplier == multiplier]
    out = ci.indicator_cis(rows.Numerator, rows.Denominator, "rate", multiplier)
    _close(out["value"], rows["value"])
    for ours, theirs in {
        "lower_95": "lower95_0cl",
        "upper_95": "upper95_0cl",
        "lower_998": "lower99_8cl",
        "upper_998": "upper99_8cl",
    }.items():
        _close(out[ours], rows[theirs])
    assert out["method"].fillna("NA").tolist() == rows["method"].fillna("NA").tolist()


def test_upstream_rates_grouped(oracles_dir):
    # PHEindicatormethods testRates.R, grouped input (0.95, multiplier 1e5)
    # — testdata_Rate__testdata_Rate_g.csv
    rows = pd.read_csv(oracles_dir / UPSTREAM / "testdata_Rate__testdata_Rate_g.csv")
    out = ci.indicator_cis(rows.Numerator, rows.Denominator, "rate", 100_000, 0.95)
    _close(out["value"], rows["value"])
    _close(out["lower_95"], rows["lowercl"])
    _close(out["upper_95"], rows["uppercl"])


def _esp2013(oracles_dir: Path) -> np.ndarray:
    # European Standard Population 2013, 19 bands (PHEindicatormethods::esp2013), as given in
    # the esp2013 column of phe_dsr_inputs.csv.
    inputs = pd.read_csv(oracles_dir / "phe_dsr_inputs.csv")
    return inputs.loc[inputs.area == "A_big", "esp2013"].to_numpy()


@pytest.mark.parametrize("multiplier", [10_000, 100_000])
def test_upstream_dsr(oracles_dir, multiplier):
    # PHEindicatormethods tests/testthat/testDSRs.R — calculate_dsr(testdata_multiarea grouped by
    # area, count, pop, stdpop = esp2013, confidence = c(0.95, 0.998), multiplier = m):
    # testdata_DSR_ISR__testresults_DSR.csv rows testdata_big/small/tiny. (testdata_1976 and the
    # non-independent-events rows use inputs not shipped in the fixtures folder.)
    data = pd.read_csv(oracles_dir / UPSTREAM / "testdata_DSR_ISR__testdata_multiarea.csv")
    results = pd.read_csv(oracles_dir / UPSTREAM / "testdata_DSR_ISR__testresults_DSR.csv")
    rows = (
        results[
            results.area.isin(["testdata_big", "testdata_small", "testdata_tiny"])
            & results.statistic.isin([f"dsr per {multiplier}", "dsr NA for total count < 10"])
        ]
        .drop_duplicates("area")
        .set_index("area")
    )
    stdpop = np.tile(_esp2013(oracles_dir), 3)
    got = ci.dsr_dobson(
        data["count"], data["pop"], stdpop, data["area"], (0.95, 0.998), multiplier
    ).loc[rows.index]
    _close(got["total_count"], rows["total_count"])
    _close(got["value"], rows["value"])
    _close(got["lower_95"], rows["lower95_0cl"])
    _close(got["upper_95"], rows["upper95_0cl"])
    _close(got["lower_998"], rows["lower99_8cl"])
    _close(got["upper_998"], rows["upper99_8cl"])


def test_upstream_isr(oracles_dir):
    # PHEindicatormethods tests/testthat/testISRatios.R / testISRates.R —
    # calculate_ISRatio / calculate_ISRate(testdata_multiarea grouped by area, count, pop,
    # refdata$refcount, refdata$refpop, confidence = c(0.95, 0.998), refvalue or multiplier):
    # testdata_DSR_ISR__testresults_ISR.csv, areas testdata_big/small/tiny. (Rows Area1/Area2 come
    # from a data set not shipped in the fixtures folder.)
    data = pd.read_csv(oracles_dir / UPSTREAM / "testdata_DSR_ISR__testdata_multiarea.csv")
    ref = pd.read_csv(oracles_dir / UPSTREAM / "testdata_DSR_ISR__refdata.csv")
    results = pd.read_csv(oracles_dir / UPSTREAM / "testdata_DSR_ISR__testresults_ISR.csv")
    x_ref, n_ref = np.tile(ref.refcount, 3), np.tile(ref.refpop, 3)
    expected = ci.expected_counts(data["pop"], x_ref, n_ref, data["area"])
    observed = data.groupby("area", sort=False)["count"].sum()
    rows = results[results.area.str.startswith("testdata_")]
    for statistic, group in rows.groupby("statistic", sort=False):
        scale = float(statistic.split()[-1])
        if "rate" in statistic:
            refvalue = ref.refcount.sum() / ref.refpop.sum() * scale
            _close(np.full(len(group), refvalue), group["ref_rate"])
        else:
            refvalue = scale
        areas = group.area.to_numpy()
        obs, exp_ = observed[areas].to_numpy(), expected[areas].to_numpy()
        _close(exp_, group["expected"])
        lower, upper = ci.isr_ci(obs, exp_, (0.95, 0.998), refvalue)
        _close(obs / exp_ * refvalue, group["value"])
        _close(lower, group[["lower95_0cl", "lower99_8cl"]].T)
        _close(upper, group[["upper95_0cl", "upper99_8cl"]].T)
        assert list(ci.poisson_method(obs)) == list(group["method"])


def test_upstream_means(oracles_dir):
    # PHEindicatormethods tests/testthat/testMeans.R — phe_mean(df grouped by area / ungrouped,
    # values, confidence = c(0.95, 0.998)): testdata_Mean__testdata_Mean(_results).csv
    data = pd.read_csv(oracles_dir / UPSTREAM / "testdata_Mean__testdata_Mean.csv")
    results = pd.read_csv(oracles_dir / UPSTREAM / "testdata_Mean__testdata_Mean_results.csv")
    grouped = ci.phe_mean(data["values"], data["area"])
    ungrouped = ci.phe_mean(data["values"])
    got = pd.concat([grouped.loc[["Area1", "Area2"]], ungrouped])
    _close(got["value_sum"], results["value_sum"])
    _close(got["value_count"], results["value_count"])
    _close(got["stdev"], results["stdev"])
    _close(got["value"], results["value"])
    _close(got["lower_95"], results["lower95_0cl"])
    _close(got["upper_95"], results["upper95_0cl"])
    _close(got["lower_998"], results["lower99_8cl"])
    _close(got["upper_998"], results["upper99_8cl"])
    assert list(got["method"]) == list(results["method"])


# ============================================================== edge cases


@pytest.mark.parametrize(
    ("x", "n", "lower_is_zero", "upper_is_one"),
    [(0, 1, True, False), (1, 1, False, True), (0, 50, True, False), (50, 50, False, True)],
    ids=["x=0,n=1", "x=n=1", "x=0", "x=n"],
)
def test_wilson_bounds_at_extremes(x, n, lower_is_zero, upper_is_one):
    lower, upper = ci.wilson_ci([x], [n], 0.95)
    assert (abs(lower[0]) < 1e-15) == lower_is_zero
    assert (abs(upper[0] - 1) < 1e-15) == upper_is_one
    assert 0 <= lower[0] <= upper[0] <= 1


def test_exact_poisson_zero_count_has_zero_lower_and_positive_upper():
    lower, upper = ci.exact_poisson_ci([0], 0.95)
    assert lower[0] == 0
    # -log(0.025): the exact upper limit for zero events
    assert upper[0] == pytest.approx(-math.log(0.025), abs=1e-12)


def test_poisson_switches_at_ten():
    lower, upper = ci.poisson_ci([9, 10], 0.95)
    exact = ci.exact_poisson_ci([9, 10], 0.95)
    byars = ci.byars_ci([9, 10], 0.95)
    assert lower[0] == exact[0][0] and upper[0] == exact[1][0]
    assert lower[1] == byars[0][1] and upper[1] == byars[1][1]
    assert list(ci.poisson_method([9, 10])) == ["Exact", "Byars"]


@pytest.mark.parametrize("value_type", ["proportion", "rate", "ratio", "count"])
@pytest.mark.parametrize("missing", [np.nan, None, pd.NA], ids=["nan", "None", "pd.NA"])
def test_missing_input_gives_nan_not_error_or_zero(value_type, missing):
    numerator = pd.Series([5, missing, 3], dtype=object)
    denominator = pd.Series([10, 10, missing], dtype=object)
    out = ci.indicator_cis(numerator, denominator, value_type, 100)
    if value_type == "count":
        assert out.loc[[1], ["value", "lower_95", "upper_998"]].isna().all(axis=None)
        assert out.loc[[0, 2]].notna().all(axis=None)
    else:
        assert (
            out.loc[[1, 2], ["value", "lower_95", "upper_95", "lower_998", "upper_998"]]
            .isna()
            .all(axis=None)
        )
        assert out.loc[0].notna().all()
    assert pd.isna(out["method"].iloc[1])


def test_indicator_cis_columns_and_index():
    numerator = pd.Series([1, 20], index=["00C", "00D"])
    out = ci.indicator_cis(numerator, pd.Series([10, 40], index=["00C", "00D"]), "proportion", 100)
    assert list(out.columns) == [
        "value",
        "lower_95",
        "upper_95",
        "lower_998",
        "upper_998",
        "method",
    ]
    assert list(out.index) == ["00C", "00D"]
    assert list(out["method"]) == ["Wilson", "Wilson"]
    out = ci.indicator_cis([3], [5.0], "ratio", 100, 0.9)
    assert list(out.columns) == ["value", "lower_90", "upper_90", "method"]


@pytest.mark.parametrize(
    ("level", "suffix"), [(0.95, "95"), (0.998, "998"), (0.9, "90"), (0.99, "99"), (0.8, "80")]
)
def test_confidence_suffix(level, suffix):
    assert ci.confidence_suffix(level) == suffix


def test_sequence_confidence_gives_one_row_per_level():
    lower, upper = ci.wilson_ci([1, 2, 3], [10, 10, 10], (0.9, 0.95, 0.998))
    assert lower.shape == upper.shape == (3, 3)
    single_lower, _ = ci.wilson_ci([1, 2, 3], [10, 10, 10], 0.95)
    np.testing.assert_array_equal(lower[1], single_lower)


# ============================================================== validation


def test_numerator_above_denominator_names_positions():
    with pytest.raises(
        InputError, match=r"numerator exceeds denominator in 2 rows: positions 3, 7"
    ):
        ci.indicator_cis([1, 1, 1, 11, 1, 1, 1, 12], [10] * 8, "proportion")


def test_negative_count_names_position():
    with pytest.raises(InputError, match=r"numerator is negative in 1 row: position 1"):
        ci.indicator_cis([3, -1], [10, 10], "rate")


@pytest.mark.parametrize("bad", [0, 1, 95, -0.5, (0.95, 1.2)])
def test_confidence_outside_unit_interval_rejected(bad):
    with pytest.raises(InputError, match="confidence"):
        ci.poisson_ci([3], bad)


def test_zero_denominator_rejected():
    with pytest.raises(InputError, match=r"denominator is zero or negative in 1 row: position 0"):
        ci.rate_ci([0], [0])


def test_non_numeric_rejected_but_suppression_marker_as_nan_is_fine():
    with pytest.raises(InputError, match=r"numerator is not numeric in 1 row: position 0"):
        ci.indicator_cis(["*"], [10], "proportion")
    out = ci.indicator_cis([np.nan], [10], "proportion")
    assert out["value"].isna().all()


def test_unknown_value_type_rejected():
    with pytest.raises(InputError, match="value_type"):
        ci.indicator_cis([1], [2], "percentage")  # type: ignore[arg-type]


# ============================================================== properties

counts = st.integers(min_value=0, max_value=100_000)


@settings(max_examples=200, deadline=None)
@given(x=counts, extra=st.integers(min_value=0, max_value=100_000))
def test_wilson_nested_and_contains_value(x, extra):
    n = max(x + extra, 1)
    out = ci.indicator_cis([x], [n], "proportion", 1)
    row = out.iloc[0]
    # PHE's closed form is reproduced as written, so at x = n the limits meet 1 only to within
    # rounding (upper_998 can be 1 - 2e-16 while upper_95 is 1.0).
    eps = 1e-12
    assert row.lower_998 <= row.lower_95 + eps and row.lower_95 <= row.value + eps
    assert row.value <= row.upper_95 + eps and row.upper_95 <= row.upper_998 + eps


@settings(max_examples=200, deadline=None)
@given(x=counts, n=st.integers(min_value=1, max_value=10_000_000))
def test_rate_nested_and_contains_value(x, n):
    out = ci.indicator_cis([x], [n], "rate", 100_000).iloc[0]
    assert out.lower_998 <= out.lower_95 <= out.value <= out.upper_95 <= out.upper_998


@settings(max_examples=100, deadline=None)
@given(x=st.integers(min_value=0, max_value=5000))
def test_poisson_limits_monotone_in_count(x):
    lower, upper = ci.poisson_ci([x, x + 1], 0.95)
    assert lower[0] <= lower[1]
    assert upper[0] <= upper[1]


def test_byars_lower_limit_of_a_tiny_count_is_missing_without_a_warning():
    """A count of 1e-300 overflows the cube in Byar's lower limit (found by the property test
    ``test_ci_functions_refuse_bad_input_only_with_input_error``): the limit is negative, so
    missing as in PHE, and numpy's overflow is expected, not warned."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lower, upper = ci._byars(np.array([1e-300]), np.array([0.95]))
    assert np.isnan(lower).all() and np.isfinite(upper).all()
