"""Tests for iaf.stats.trend: Mann–Kendall, Theil–Sen, Fingertips recent trend."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from iaf.errors import InputError
from iaf.stats.trend import (
    FINGERTIPS_CHI2_CRITICAL,
    fingertips_recent_trend,
    mann_kendall,
    theil_sen,
)

TOL = 1e-9

# R ?cor.test example (Hollander & Wolfe 1973, p. 187): cor.test(x, y, method = "kendall")
# prints T = 26, p-value = 0.1194, tau 0.4444444 (R's own help page, stats package).
HW_X = [44.4, 45.9, 41.9, 53.3, 44.7, 44.1, 50.7, 45.2, 60.1]
HW_Y = [2.6, 3.1, 2.5, 5.0, 3.6, 4.0, 5.2, 2.8, 3.8]


def _long(series: dict[str, list[float]], t: list[float] | None = None) -> pd.DataFrame:
    rows = []
    for key, values in series.items():
        times = t if t is not None else list(range(1, len(values) + 1))
        rows += [{"series": key, "t": tt, "value": v} for tt, v in zip(times, values, strict=True)]
    return pd.DataFrame(rows)


# ---------------------------------------------------------------- Mann–Kendall


def test_mann_kendall_golden_hollander_wolfe():
    # x plays "time": tau-b and the exact p-value must match R's documented output.
    out = mann_kendall(pd.DataFrame({"series": "hw", "t": HW_X, "value": HW_Y})).iloc[0]
    assert out["n"] == 9
    assert out["kendall_tau"] == pytest.approx(4 / 9, abs=TOL)
    concordant = (out["kendall_s"] + 9 * 8 / 2) / 2
    assert concordant == 26  # R's statistic T
    assert round(out["p_value"], 4) == 0.1194
    assert "exact" in out["method"]
    # scipy 1.17 kendalltau(method="exact") as the per-series reference
    ref = stats.kendalltau(HW_X, HW_Y, method="exact")
    assert out["p_value"] == pytest.approx(ref.pvalue, abs=TOL)


def _random_frame(seed: int, n_series: int, max_len: int, decimals: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    series = {}
    for s in range(n_series):
        n = int(rng.integers(3, max_len))
        values = np.round(rng.normal(size=n) + rng.normal() * 0.2 * np.arange(n), decimals)
        series[f"s{s:03d}"] = list(values)
    frames = [_long({k: v}) for k, v in series.items()]
    return pd.concat(frames, ignore_index=True)


@pytest.mark.parametrize(
    ("decimals", "max_len"), [(6, 25), (0, 25), (6, 70)], ids=["no-ties", "ties", "n>=50"]
)
def test_mann_kendall_matches_scipy_per_series(decimals, max_len):
    frame = _random_frame(7, 60, max_len, decimals)
    out = mann_kendall(frame).set_index("series")
    checked = 0
    for key, g in frame.groupby("series"):
        if g["value"].nunique() < 2:
            continue
        ties = g["value"].duplicated().any()
        method = "exact" if (len(g) < 50 and not ties) else "asymptotic"
        ref = stats.kendalltau(g["t"], g["value"], method=method)
        assert out.loc[key, "kendall_tau"] == pytest.approx(ref.statistic, abs=TOL)
        assert out.loc[key, "p_value"] == pytest.approx(ref.pvalue, abs=TOL)
        assert ("exact" in out.loc[key, "method"]) == (method == "exact")
        checked += 1
    assert checked > 40


def test_mann_kendall_tie_corrected_golden():
    # Hand check of R's tie-corrected variance: x = 1..5, y = (1, 2, 2, 3, 4).
    # S = 9, T0 = 10, T1 = 1, tau-b = 9 / sqrt(10 * 9); var_S = (5*4*15 - 2*1*9) / 18 = 282/18.
    out = mann_kendall(_long({"a": [1, 2, 2, 3, 4]})).iloc[0]
    assert out["kendall_s"] == 9
    assert out["kendall_tau"] == pytest.approx(9 / np.sqrt(90), abs=TOL)
    z = 9 / np.sqrt(282 / 18)
    assert out["p_value"] == pytest.approx(2 * stats.norm.sf(z), abs=TOL)


@pytest.mark.parametrize(
    ("values", "n"),
    [([], 0), ([1.0], 1), ([3.0, 3.0, 3.0, 3.0], 4), ([np.nan, np.nan], 0)],
    ids=["empty-after-nan", "n=1", "constant", "all-nan"],
)
def test_mann_kendall_undefined(values, n):
    frame = _long({"a": values}) if values else _long({"a": [np.nan]})
    out = mann_kendall(frame).iloc[0]
    assert out["n"] == n
    assert np.isnan(out["kendall_tau"]) and np.isnan(out["p_value"])
    assert out["method"].startswith("not calculated")


def test_mann_kendall_drops_nan_and_sorts_time():
    frame = _long({"a": [5.0, np.nan, 1.0, 3.0, 2.0]}, t=[5, 4, 1, 3, 2])
    out = mann_kendall(frame).iloc[0]
    assert out["n"] == 4
    assert out["kendall_tau"] == pytest.approx(1.0, abs=TOL)


def test_mann_kendall_multiple_key_columns():
    frame = _long({"a": [1.0, 2, 3, 4], "b": [4.0, 3, 2, 1]}).assign(ind="x")
    out = mann_kendall(frame, series=["series", "ind"])
    assert list(out.columns[:2]) == ["series", "ind"]
    assert list(out["kendall_tau"]) == [1.0, -1.0]


def test_mann_kendall_rejects_duplicate_time():
    frame = pd.DataFrame({"series": ["a", "a", "b"], "t": [1, 1, 1], "value": [1.0, 2.0, 3.0]})
    with pytest.raises(InputError, match=r"column 't' repeats a time point.*2 rows: a 1, a 1"):
        mann_kendall(frame)


def test_mann_kendall_rejects_missing_and_non_numeric_columns():
    with pytest.raises(InputError, match="'value'"):
        mann_kendall(pd.DataFrame({"series": ["a"], "t": [1]}))
    frame = pd.DataFrame({"series": ["a", "a"], "t": [1, 2], "value": ["1", "x"]})
    with pytest.raises(InputError, match=r"column 'value' must be numeric.*1 rows: a x"):
        mann_kendall(frame)


# ---------------------------------------------------------------- Theil–Sen


def test_theil_sen_matches_scipy_per_series():
    frame = _random_frame(11, 40, 22, 1)
    out = theil_sen(frame).set_index("series")
    for key, g in frame.groupby("series"):
        ref = stats.theilslopes(g["value"], g["t"])
        assert out.loc[key, "slope"] == pytest.approx(ref.slope, abs=TOL)
        assert out.loc[key, "intercept"] == pytest.approx(ref.intercept, abs=TOL)


def test_theil_sen_hand_computed():
    # pairwise slopes of (1,1),(2,3),(3,2): 2, 0.5, -1 → median 0.5; intercept 2 − 0.5·2 = 1.
    out = theil_sen(_long({"a": [1.0, 3.0, 2.0]})).iloc[0]
    assert out["slope"] == pytest.approx(0.5, abs=TOL)
    assert out["intercept"] == pytest.approx(1.0, abs=TOL)


def test_theil_sen_edge_cases():
    out = theil_sen(_long({"one": [4.0], "flat": [2.0, 2.0, 2.0], "nan": [np.nan, 1.0]}))
    out = out.set_index("series")
    assert np.isnan(out.loc["one", "slope"]) and np.isnan(out.loc["nan", "slope"])
    assert out.loc["flat", "slope"] == 0.0 and out.loc["flat", "intercept"] == 2.0


@pytest.mark.parametrize("seed", range(5))
def test_theil_sen_sign_matches_tau_sign_on_monotone_data(seed):
    rng = np.random.default_rng(seed)
    up = np.cumsum(rng.uniform(0.1, 2, size=15))
    frame = _long({"up": list(up), "down": list(-up)})
    tau = mann_kendall(frame).set_index("series")["kendall_tau"]
    slope = theil_sen(frame).set_index("series")["slope"]
    assert np.sign(slope["up"]) == np.sign(tau["up"]) == 1
    assert np.sign(slope["down"]) == np.sign(tau["down"]) == -1


# ---------------------------------------------------------------- Fingertips recent trend


def test_critical_value_is_chi2_998():
    assert stats.chi2.ppf(0.998, 1) == pytest.approx(FINGERTIPS_CHI2_CRITICAL, abs=TOL)
    assert round(FINGERTIPS_CHI2_CRITICAL, 4) == 9.5495


def _prop_frame(x, n, key="a", polarity=None):
    frame = pd.DataFrame({"series": key, "t": range(len(x)), "numerator": x, "denominator": n})
    return frame if polarity is None else frame.assign(polarity=polarity)


def test_prop_trend_test_golden_r_example():
    # R ?prop.trend.test: smokers <- c(83, 90, 129, 70); patients <- c(86, 93, 136, 82)
    # prop.trend.test(smokers, patients) → X-squared = 8.2249, df = 1, p-value = 0.004132.
    # Fingertips needs five points, so test the chi² through the private helper.
    from iaf.stats.trend import _trend_for_proportions

    chi2, _ = _trend_for_proportions(
        np.array([[83.0, 90, 129, 70]]), np.array([[86.0, 93, 136, 82]])
    )
    assert round(chi2[0], 4) == 8.2249
    assert round(stats.chi2.sf(chi2[0], 1), 6) == 0.004132


# Fingertips' own unit test data (ukhsa-collaboration/fingertips-open,
# PholioVisualisationWS/AnalysisTest/TrendMarkerCalculatorTest.cs, GetTrendData_Set1), also the
# example in PHEindicatormethods ?assign_trend_markers.
FT_SET1 = pd.DataFrame(
    {
        "series": "set1",
        "year": [2018, 2017, 2016, 2015, 2014],
        "count": [1367, 1332, 1199, 1023, 994],
        "denom": [44701, 44064, 42811, 41527, 40299],
        "value": [30.6, 30.2, 28, 24.6, 24.67],
        "lcl": [28.98, 28.63, 26.44, 23.15, 23.16],
        "ucl": [32.25, 31.9, 29.64, 26.19, 26.25],
    }
)


def test_fingertips_golden_proportion_set1():
    # TrendMarkerCalculatorTest.TestIsSignificantForProportionsReturnsTrue: Math.Round(chi², 2)
    # == 47.9, significant.
    out = fingertips_recent_trend(
        FT_SET1, order="year", numerator="count", denominator="denom"
    ).iloc[0]
    assert round(out["chi2"], 2) == 47.90
    assert out["direction"] == "getting better" and out["slope_sign"] == 1


def test_fingertips_golden_weighted_set1():
    # TrendMarkerCalculatorTest.TestIsSignificantReturnsTrue: Math.Round(chi², 2) == 46.77.
    # Fingertips takes SE = (U − L) / 3.92, i.e. z = 1.96; choosing the confidence whose
    # two-sided z is exactly 1.96 reproduces it. With the exact 95% z it is 46.7636 (by hand).
    conf_196 = 2 * stats.norm.cdf(1.96) - 1
    kwargs = {"order": "year", "numerator": "count", "denominator": "denom", "value": "value"}
    kwargs |= {"lower_ci": "lcl", "upper_ci": "ucl", "value_type": "rate"}
    out = fingertips_recent_trend(FT_SET1, confidence=conf_196, **kwargs).iloc[0]
    assert round(out["chi2"], 2) == 46.77
    assert out["direction"] == "getting better"
    exact = fingertips_recent_trend(FT_SET1, **kwargs).iloc[0]
    assert exact["chi2"] == pytest.approx(46.76359716054982, abs=1e-8)


def test_fingertips_not_significant_set2():
    # TrendMarkerCalculatorTest.TestIsSignificantReturnsFalse (GetTrendData_Set2).
    frame = pd.DataFrame(
        {
            "series": "set2",
            "year": [2014, 2015, 2016, 2017, 2018],
            "count": [209, 213, 213, 239, 210],
            "denom": [1017, 1087, 1119, 1117, 1139],
            "value": [20.5506, 19.5952, 19.0349, 21.3966, 18.4372],
            "lcl": [18.1803, 17.3444, 16.8421, 19.0918, 16.2925],
            "ucl": [23.1427, 22.0602, 21.4394, 23.8975, 20.7941],
        }
    )
    kwargs = {"order": "year", "numerator": "count", "denominator": "denom", "value": "value"}
    out = fingertips_recent_trend(
        frame, lower_ci="lcl", upper_ci="ucl", value_type="rate", **kwargs
    )
    assert out["direction"].iloc[0] == "no significant change"
    assert out["chi2"].iloc[0] < FINGERTIPS_CHI2_CRITICAL


def test_fingertips_uses_five_most_recent_valid_points():
    # 7 points; the first two would reverse the trend if used. A suppressed point is skipped.
    x = [900, 900, 100, 200, 300, 999, 400, 500]
    frame = _prop_frame(x, [1000] * 8).assign(sup=[False] * 5 + [True] + [False] * 2)
    out = fingertips_recent_trend(frame, suppressed="sup").iloc[0]
    assert out["n_points"] == 5
    full = fingertips_recent_trend(_prop_frame([100, 200, 300, 400, 500], [1000] * 5)).iloc[0]
    assert out["chi2"] == pytest.approx(full["chi2"], abs=TOL)
    assert out["direction"] == "getting better"


@pytest.mark.parametrize(
    ("x", "available"),
    [([10, 20, 30], 3), ([], 0), ([10, np.nan, 20, np.nan, 30, 40], 4)],
    ids=["n=3", "all-nan", "nan-gaps"],
)
def test_fingertips_fewer_than_five_points(x, available):
    x = x or [np.nan, np.nan]
    out = fingertips_recent_trend(_prop_frame(x, [100] * len(x))).iloc[0]
    assert out["direction"] == "could not be calculated"
    assert out["reason"] == f"fewer than 5 points ({available} available)"
    assert np.isnan(out["chi2"])


@pytest.mark.parametrize(
    ("polarity", "up", "down"),
    [
        ("higher_is_better", "getting better", "getting worse"),
        ("lower_is_better", "getting worse", "getting better"),
        ("no_judgement", "increasing", "decreasing"),
    ],
)
def test_fingertips_polarity_mapping(polarity, up, down):
    frame = pd.concat(
        [
            _prop_frame([100, 200, 300, 400, 500], [1000] * 5, "up"),
            _prop_frame([500, 400, 300, 200, 100], [1000] * 5, "down"),
            _prop_frame([300, 301, 299, 300, 300], [1000] * 5, "flat"),
        ]
    )
    out = fingertips_recent_trend(frame, polarity=polarity).set_index("series")["direction"]
    assert (out["up"], out["down"], out["flat"]) == (up, down, "no significant change")


def test_fingertips_reversing_polarity_swaps_better_and_worse():
    frame = _random_prop_frame(3)
    hi = fingertips_recent_trend(frame, polarity="higher_is_better")["direction"]
    lo = fingertips_recent_trend(frame, polarity="lower_is_better")["direction"]
    swap = {"getting better": "getting worse", "getting worse": "getting better"}
    assert list(lo) == [swap.get(d, d) for d in hi]
    assert {"getting better", "getting worse"} <= set(hi)


def _random_prop_frame(seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    parts = []
    for s in range(60):
        p = np.clip(0.3 + rng.normal(0, 0.05) * np.arange(6) + rng.normal(0, 0.02, 6), 0.01, 0.99)
        n = rng.integers(200, 5000, 6)
        parts.append(_prop_frame(list(rng.binomial(n, p)), list(n), f"s{s:02d}"))
    return pd.concat(parts, ignore_index=True)


def test_fingertips_polarity_from_column():
    frame = pd.concat(
        [
            _prop_frame([100, 200, 300, 400, 500], [1000] * 5, "a", "lower_is_better"),
            _prop_frame([100, 200, 300, 400, 500], [1000] * 5, "b", "higher_is_better"),
        ]
    )
    out = fingertips_recent_trend(frame, polarity="polarity").set_index("series")["direction"]
    assert (out["a"], out["b"]) == ("getting worse", "getting better")


def test_fingertips_outlier_breaks_trend():
    # Significant overall, but leaving out the big last jump flips the slope: no trend reported.
    out = fingertips_recent_trend(_prop_frame([300, 290, 280, 270, 900], [1000] * 5)).iloc[0]
    assert out["chi2"] > FINGERTIPS_CHI2_CRITICAL
    assert out["direction"] == "no significant change"
    assert "outlier" in out["reason"]


def test_fingertips_matches_loop_reference():
    # A per-series loop written from the Fingertips formulas, as an independent reference.
    frame = _random_prop_frame(5)
    out = fingertips_recent_trend(frame).set_index("series")
    t = np.arange(1, 6.0)
    for key, g in frame.groupby("series"):
        g = g.sort_values("t").tail(5)
        x, n = g["numerator"].to_numpy(float), g["denominator"].to_numpy(float)
        big_n, big_x = n.sum(), x.sum()
        num = big_n * (big_n * (x * t).sum() - big_x * (n * t).sum()) ** 2
        den = big_x * (big_n - big_x) * (big_n * (n * t * t).sum() - (n * t).sum() ** 2)
        assert out.loc[key, "chi2"] == pytest.approx(num / den, abs=1e-8)
        logit = np.log(x / (n - x))
        slopes = [np.polyfit(t, logit, 1)[0]]
        slopes += [np.polyfit(np.delete(t, j), np.delete(logit, j), 1)[0] for j in range(5)]
        assert out.loc[key, "slope"] == pytest.approx(slopes[0], abs=1e-9)
        trend = num / den > FINGERTIPS_CHI2_CRITICAL and len({np.sign(s) for s in slopes}) == 1
        assert (out.loc[key, "direction"] != "no significant change") == trend


def test_fingertips_rate_without_limits_uses_poisson_variance():
    # value = x / n, SE = value / sqrt(x): weights x / value² = n² / x.
    frame = _prop_frame([100, 120, 150, 160, 200], [10_000] * 5)
    out = fingertips_recent_trend(frame, value_type="rate").iloc[0]
    x = np.array([100, 120, 150, 160, 200.0])
    v, w, t = x / 1e4, 1e8 / x, np.arange(1, 6.0)
    sw, st, stt = w.sum(), (w * t).sum(), (w * t * t).sum()
    slope = (sw * (w * t * v).sum() - st * (w * v).sum()) / (sw * stt - st**2)
    assert out["slope"] == pytest.approx(slope, abs=TOL)
    assert out["chi2"] == pytest.approx(slope**2 * (sw * stt - st**2) / sw, abs=1e-8)


def test_fingertips_zero_proportion_is_not_calculated():
    out = fingertips_recent_trend(_prop_frame([0, 10, 20, 30, 40], [100] * 5)).iloc[0]
    assert out["direction"] == "could not be calculated"
    assert "logit" in out["reason"]


@pytest.mark.parametrize(
    ("frame_kwargs", "call_kwargs", "message"),
    [
        ({"x": [5, 200], "n": [10, 100]}, {}, r"numerator .* exceeds denominator .* 1 rows: a"),
        ({"x": [-1, 2], "n": [10, 10]}, {}, r"column 'numerator' is negative in 1 rows"),
        ({"x": [1, 2], "n": [10, 10]}, {"value_type": "percent"}, "value_type must be one of"),
        ({"x": [1, 2], "n": [10, 10]}, {"polarity": "up"}, "polarity must be one of"),
        ({"x": [1, 2], "n": [10, 10]}, {"lower_ci": "numerator"}, "both lower_ci and upper_ci"),
    ],
    ids=["num>den", "negative", "bad-value-type", "bad-polarity", "half-ci"],
)
def test_fingertips_validation(frame_kwargs, call_kwargs, message):
    frame = _prop_frame(frame_kwargs["x"], frame_kwargs["n"])
    with pytest.raises(InputError, match=message):
        fingertips_recent_trend(frame, **call_kwargs)


def test_fingertips_handles_many_series_quickly():
    rng = np.random.default_rng(0)
    n_series, n_points = 20_000, 8
    frame = pd.DataFrame(
        {
            "series": np.repeat(np.arange(n_series), n_points),
            "t": np.tile(np.arange(n_points), n_series),
            "denominator": rng.integers(100, 1000, n_series * n_points),
        }
    ).assign(numerator=lambda d: rng.binomial(d["denominator"], 0.3))
    out = fingertips_recent_trend(frame)
    assert len(out) == n_series
    assert set(out["direction"]) <= {"no significant change", "getting better", "getting worse"}


# ---------------------------------------------------------------- fast paths


def _mixed_length_grids(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(series × point) grids as the layout builds them: series of 0..12 points at distinct
    increasing times, NaN-padded, with gaps, ties (one decimal) and a few ±inf values."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(0, 13, 400)
    t = np.full((400, 12), np.nan)
    x = np.full((400, 12), np.nan)
    for row, n in enumerate(lengths):
        t[row, :n] = np.sort(rng.choice(30, size=n, replace=False))
        x[row, :n] = np.round(rng.normal(0, 1, n), 1)
    x[rng.random(x.shape) < 0.1] = np.nan
    x[rng.random(x.shape) < 0.01] = np.inf
    x[rng.random(x.shape) < 0.01] = -np.inf
    return t, x


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fast_paths_equal_general_paths_on_mixed_lengths(seed):
    from iaf.stats.trend import _compact, _kendall_counts, _theil_sen_rows

    t, x = _mixed_length_grids(seed)
    fast, general = _kendall_counts(t, x), _kendall_counts(t, x, fast=False)
    assert fast.keys() == general.keys()
    for key in fast:
        np.testing.assert_array_equal(np.asarray(fast[key]), np.asarray(general[key]))
    tc, xc = _compact(t, x)
    for got, want in zip(_theil_sen_rows(tc, xc), _theil_sen_rows(tc, xc, fast=False), strict=True):
        np.testing.assert_array_equal(got, want)
    # the case mix is what makes the comparison mean something
    n = np.count_nonzero(~np.isnan(x), axis=1)
    assert len(np.unique(n)) > 5 and np.isinf(x).any(axis=1).any()


def test_sorted_and_shuffled_frames_with_categorical_keys_agree():
    rng = np.random.default_rng(3)
    n_series, n_points = 300, 9
    frame = pd.DataFrame(
        {
            "area": pd.Categorical(np.repeat([f"A{i:03d}" for i in range(n_series)], n_points)),
            "t": np.tile(np.arange(n_points, dtype=float), n_series),
            "value": np.round(rng.normal(0, 1, n_series * n_points), 1),
        }
    )
    shuffled = frame.sample(frac=1, random_state=1)
    for func in (mann_kendall, theil_sen):
        pd.testing.assert_frame_equal(
            func(frame, series="area"), func(shuffled, series="area"), check_exact=True
        )
        as_text = func(frame.astype({"area": str}), series="area")
        assert list(as_text["area"]) == list(func(frame, series="area")["area"].astype(str))
