"""Funnel plots: golden values from FunnelPlotR 0.6.0, the corrected CQC limits, the many-funnel
form against the one-funnel form, edge cases and properties."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from iaf.errors import InputError
from iaf.stats.funnel import (
    Z_95_FUNNELPLOTR,
    Z_998_FUNNELPLOTR,
    funnel,
    funnel_by,
    polarity_concern,
)

TOL = 1e-9
CALL_IDS = [
    "PR_default",
    "PR_limit95",
    "PR_unadjusted95",
    "PR_unadjusted99",
    "PR_multiplier100",
    "PR_trim5pct",
    "PR_no_overdisp",
    "SR_SHMI_default",
    "SR_SHMI_limit95",
    "SR_SHMI_norounding",
    "SR_CQC",
    "SR_unadjusted95",
    "SR_unadjusted99",
    "SR_SHMI_od",
    "SR_SHMI_od_95",
    "SR_CQC_od",
    "SR_od_unadjusted99",
    "RC_od",
    "RC_default",
    "RC_unadjusted95",
]
# FunnelPlotR column -> our points column.
NUMERIC_COLUMNS = {
    "denominator": "denominator",
    "Y": "y",
    "Uzscore": "z",
    "Wuzscore": "z_winsorised",
    "OD95LCL": "adjusted_lower_95",
    "OD95UCL": "adjusted_upper_95",
    "OD99LCL": "adjusted_lower_998",
    "OD99UCL": "adjusted_upper_998",
    "LCL95": "unadjusted_lower_95",
    "UCL95": "unadjusted_upper_95",
    "LCL99": "unadjusted_lower_998",
    "UCL99": "unadjusted_upper_998",
}


def _kwargs_from_r_call(call: str) -> dict:
    """Our options for one recorded ``funnel_plot(...)`` call (FunnelPlotR's defaults otherwise)."""
    kwargs: dict = {"data_type": "SR", "limit": 99.8, "cqc_squared_limits": False}
    if m := re.search(r'data_type = "(\w+)"', call):
        kwargs["data_type"] = m[1]
    if m := re.search(r"limit = (\d+)", call):
        kwargs["limit"] = {"95": 95, "99": 99.8}[m[1]]  # FunnelPlotR's limit = 99 is 99.8%
    if m := re.search(r'sr_method = "(\w+)"', call):
        kwargs["sr_method"] = m[1]
    if m := re.search(r"trim_by = ([\d.]+)", call):
        kwargs["trim"] = float(m[1])
    if m := re.search(r"multiplier = (\d+)", call):
        kwargs["multiplier"] = float(m[1])
    if "draw_adjusted = FALSE" in call:
        kwargs["adjust"] = False
    if "SHMI_rounding = FALSE" in call:
        kwargs["shmi_rounding"] = False
    return kwargs


@pytest.fixture(scope="module")
def oracle(oracles_dir: Path) -> dict[str, pd.DataFrame]:
    return {
        name: pd.read_csv(oracles_dir / f"funnel_{name}.csv")
        for name in ("inputs", "points", "summary")
    }


def _run_call(oracle: dict[str, pd.DataFrame], call_id: str):
    summary = oracle["summary"].set_index("call_id").loc[call_id]
    data = oracle["inputs"].query("dataset == @summary.dataset")
    kwargs = _kwargs_from_r_call(summary["call"])
    result = funnel(data["numerator"], data["denominator"], groups=data["unit"], **kwargs)
    expected = oracle["points"].query("call_id == @call_id").reset_index(drop=True)
    return result, expected, summary, kwargs


def test_every_oracle_call_is_tested(oracle: dict[str, pd.DataFrame]) -> None:
    assert sorted(oracle["summary"]["call_id"]) == sorted(CALL_IDS)
    assert sorted(oracle["points"]["call_id"].unique()) == sorted(CALL_IDS)


@pytest.mark.parametrize("call_id", CALL_IDS)
def test_golden_points(oracle: dict[str, pd.DataFrame], call_id: str) -> None:
    # FunnelPlotR 0.6.0 funnel_plot(...) — ../shared/oracles/funnel_points.csv, call <call_id>
    # (the exact R call is the `call` column of ../shared/oracles/funnel_summary.csv).
    result, expected, _, kwargs = _run_call(oracle, call_id)
    points = result.points
    assert len(expected) == 20
    assert points["group"].tolist() == expected["group"].tolist()
    assert points["numerator"].to_numpy() == pytest.approx(expected["numerator"].to_numpy())
    for theirs, ours in NUMERIC_COLUMNS.items():
        want, got = expected[theirs].to_numpy(float), points[ours].to_numpy(float)
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=theirs)
        np.testing.assert_array_equal(np.isinf(got), np.isinf(want), err_msg=theirs)
        np.testing.assert_array_equal(got[np.isinf(got)], want[np.isinf(want)], err_msg=theirs)
        finite = np.isfinite(want)
        np.testing.assert_allclose(got[finite], want[finite], rtol=0, atol=TOL, err_msg=theirs)
    # FunnelPlotR keeps rr unscaled; our value is on the limits' (multiplied) scale.
    np.testing.assert_allclose(
        points["value"], expected["rr"] * kwargs.get("multiplier", 1), rtol=0, atol=TOL
    )
    trimmed = (
        expected["truncated"] if expected["winsorised"].isna().all() else expected["winsorised"]
    )
    assert points["trimmed"].tolist() == trimmed.astype(bool).tolist()
    assert (points["outlier"] != "").tolist() == expected["outlier"].astype(bool).tolist()


@pytest.mark.parametrize("call_id", CALL_IDS)
def test_golden_summary(oracle: dict[str, pd.DataFrame], call_id: str) -> None:
    # FunnelPlotR 0.6.0 funnel_plot(...) — ../shared/oracles/funnel_summary.csv, call <call_id>
    result, _, summary, _ = _run_call(oracle, call_id)
    assert result.phi == pytest.approx(summary["phi"], abs=TOL, rel=0)
    assert result.tau2 == pytest.approx(summary["tau2"], abs=TOL, rel=0)
    assert result.adjusted is bool(summary["draw_adjusted"])
    assert result.adjusted is not bool(summary["draw_unadjusted"])
    assert int((result.points["outlier"] != "").sum()) == summary["n_outliers"]


@pytest.mark.parametrize("call_id", CALL_IDS)
def test_limits_in_effect_follow_adjustment(oracle: dict[str, pd.DataFrame], call_id: str) -> None:
    result, *_ = _run_call(oracle, call_id)
    prefix = "adjusted_" if result.adjusted else "unadjusted_"
    for name in ("lower_95", "upper_95", "lower_998", "upper_998"):
        pd.testing.assert_series_equal(
            result.points[name], result.points[prefix + name], check_names=False
        )


def test_outlier_direction_matches_limits(oracle: dict[str, pd.DataFrame]) -> None:
    result, *_ = _run_call(oracle, "PR_default")
    p = result.points
    assert p.loc[p["outlier"] == "high", "group"].tolist() == ["U15"]  # 80/80
    assert p.loc[p["outlier"] == "low", "group"].tolist() == ["U14"]  # 0/150
    assert (
        p.loc[p["outlier"] == "high", "value"] > p.loc[p["outlier"] == "high", "upper_998"]
    ).all()


def test_z_constants_are_funnelplotr_rounding_of_normal_quantiles() -> None:
    assert abs(Z_95_FUNNELPLOTR - stats.norm.ppf(0.975)) < 1e-6
    assert abs(Z_998_FUNNELPLOTR - stats.norm.ppf(0.999)) < 1e-6


# --------------------------------------------------------------------------- CQC departure


def test_cqc_default_limits_are_back_transformed(oracle: dict[str, pd.DataFrame]) -> None:
    # Corrected CQC limits (FunnelPlotR issue #33): (1 ± z·sqrt(1/(4E) + tau²))², root floored at 0.
    data = oracle["inputs"].query("dataset == 'sr_od'")
    result = funnel(
        data["numerator"], data["denominator"], "SR", groups=data["unit"], sr_method="CQC"
    )
    package = funnel(
        data["numerator"],
        data["denominator"],
        "SR",
        groups=data["unit"],
        sr_method="CQC",
        cqc_squared_limits=False,
    )
    assert result.adjusted and result.tau2 == pytest.approx(0.00722259921752268, abs=TOL)
    e = result.points["denominator"].to_numpy()
    for band, z in (("95", Z_95_FUNNELPLOTR), ("998", Z_998_FUNNELPLOTR)):
        sd = np.sqrt(1 / (4 * e) + result.tau2)
        np.testing.assert_allclose(
            result.points[f"lower_{band}"], np.maximum(0, 1 - z * sd) ** 2, rtol=0, atol=TOL
        )
        np.testing.assert_allclose(result.points[f"upper_{band}"], (1 + z * sd) ** 2, atol=TOL)
        # The package's unsquared limits are the square roots of ours where the root is positive.
        root = package.points[f"upper_{band}"].to_numpy()
        np.testing.assert_allclose(result.points[f"upper_{band}"], root**2, rtol=0, atol=TOL)
    # U16 (E = 0.875): the package's lower limit is negative; ours is floored at 0.
    u16 = result.points.set_index("group").loc["U16"]
    assert package.points.set_index("group").loc["U16", "lower_95"] < 0
    assert u16["lower_95"] == 0.0 and u16["lower_998"] == 0.0
    # Everything before the limits is untouched by the correction.
    for col in ("y", "z", "z_winsorised", "unadjusted_lower_95", "unadjusted_upper_998"):
        pd.testing.assert_series_equal(result.points[col], package.points[col])
    assert result.phi == package.phi


def test_cqc_correction_changes_outliers_only_through_limits(
    oracle: dict[str, pd.DataFrame],
) -> None:
    data = oracle["inputs"].query("dataset == 'sr_od'")
    result = funnel(
        data["numerator"], data["denominator"], "SR", groups=data["unit"], sr_method="CQC", limit=95
    )
    p = result.points
    expected = np.where(
        p["value"] > p["upper_95"], "high", np.where(p["value"] < p["lower_95"], "low", "")
    )
    assert p["outlier"].astype(str).tolist() == expected.tolist()
    assert "U03" in p.loc[p["outlier"] == "high", "group"].tolist()  # ratio 1.44


# --------------------------------------------------------------------------- funnel_by


def _many_funnels(seed: int = 7, n_funnels: int = 6, n_units: int = 40) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for f in range(n_funnels):
        den = rng.integers(1, 3000, n_units).astype(float)
        p = rng.uniform(0.2, 0.8)
        spread = 0.0 if f % 3 == 0 else 0.08  # some funnels without overdispersion
        num = rng.binomial(den.astype(int), np.clip(p + rng.normal(0, spread, n_units), 0, 1))
        for u in range(n_units):
            rows.append((f"IND{f % 3}", f"2017/Q{f // 3 + 1}", f"A{u:03d}", num[u], den[u]))
    frame = pd.DataFrame(
        rows, columns=["indicator", "period", "area_code", "numerator", "denominator"]
    )
    # A duplicated area (summed), a zero denominator (dropped) and a tiny unit in one funnel.
    extra = pd.DataFrame(
        [
            ("IND1", "2017/Q1", "A000", 5, 9.0),
            ("IND1", "2017/Q1", "Z999", 0, 0.0),
            ("IND2", "2017/Q1", "T001", 1, 2.0),
        ],
        columns=frame.columns,
    )
    return pd.concat([frame, extra], ignore_index=True).sample(frac=1, random_state=seed)


@pytest.mark.parametrize(
    "options",
    [
        {"data_type": "PR"},
        {"data_type": "PR", "limit": 95, "trim": 0.05},
        {"data_type": "RC"},
        {"data_type": "SR"},
        {"data_type": "SR", "sr_method": "CQC"},
        {"data_type": "SR", "sr_method": "CQC", "cqc_squared_limits": False},
        {"data_type": "PR", "adjust": False, "multiplier": 100},
    ],
    ids=lambda o: "-".join(f"{k}={v}" for k, v in o.items()),
)
def test_funnel_by_equals_funnel_per_group(options: dict) -> None:
    frame = _many_funnels()
    points, summary = funnel_by(frame, ["indicator", "period"], **options)
    assert len(summary) == 6
    if options["data_type"] == "PR" and options.get("adjust", True):
        # Both branches are exercised: funnels with and without overdispersion.
        assert summary["adjusted"].any() and not summary["adjusted"].all()
    for (indicator, period), sub in frame.groupby(["indicator", "period"]):
        one = funnel(sub["numerator"], sub["denominator"], groups=sub["area_code"], **options)
        mine = points[(points["indicator"] == indicator) & (points["period"] == period)]
        row = summary[(summary["indicator"] == indicator) & (summary["period"] == period)].iloc[0]
        assert row["phi"] == one.phi and row["tau2"] == one.tau2
        assert row["adjusted"] == one.adjusted and row["target"] == one.target
        assert row["n"] == len(one.points) and row["dropped"] == one.dropped
        assert row["n_outliers"] == (one.points["outlier"] != "").sum()
        expected = one.points.reset_index(drop=True)
        got = mine.drop(columns=["indicator", "period"]).reset_index(drop=True)
        assert got["group"].astype(str).tolist() == expected["group"].astype(str).tolist()
        pd.testing.assert_frame_equal(
            got.drop(columns="group"), expected.drop(columns="group"), check_exact=True
        )


def test_funnel_by_reports_dropped_and_sums_duplicates() -> None:
    frame = _many_funnels()
    points, summary = funnel_by(frame, ["indicator", "period"])
    row = summary.set_index(["indicator", "period"]).loc[("IND1", "2017/Q1")]
    assert row["dropped"] == ("Z999",)
    a000 = frame.query("indicator == 'IND1' and period == '2017/Q1' and area_code == 'A000'")
    got = points.query("indicator == 'IND1' and period == '2017/Q1' and group == 'A000'")
    assert len(a000) == 2 and len(got) == 1
    assert got["numerator"].iloc[0] == a000["numerator"].sum()
    assert got["denominator"].iloc[0] == a000["denominator"].sum()


def test_funnel_by_validates_columns() -> None:
    with pytest.raises(InputError, match="no column"):
        funnel_by(pd.DataFrame({"x": [1]}), ["indicator"])


# --------------------------------------------------------------------------- edge cases

EDGE_CASES = {
    "zero numerator": ([0, 30, 50, 45, 60, 70], [100, 100, 120, 110, 130, 150]),
    "numerator equals denominator": ([100, 30, 50, 45, 60, 70], [100, 100, 120, 110, 130, 150]),
    "tiny denominators": ([1, 0, 2, 45, 60, 700], [1, 2, 3, 110, 130, 1500]),
}


@pytest.mark.parametrize("data_type", ["PR", "RC"])
@pytest.mark.parametrize("case", EDGE_CASES, ids=list(EDGE_CASES))
def test_edge_cases_give_finite_ordered_limits(case: str, data_type: str) -> None:
    num, den = EDGE_CASES[case]
    result = funnel(num, den, data_type, groups=list("abcdef"))
    p = result.points
    for band in ("95", "998"):
        assert np.isfinite(p[[f"lower_{band}", f"upper_{band}"]].to_numpy()).all()
        assert (p[f"lower_{band}"] <= p[f"upper_{band}"]).all()
    if data_type == "PR":
        assert (p["lower_998"] >= 0).all() and (p["upper_998"] <= 1).all()


def test_zero_numerator_proportion_is_low_outlier() -> None:
    result = funnel([0, 300, 310, 290, 305], [1000, 1000, 1000, 1000, 1000], groups=list("abcde"))
    assert result.points.set_index("group").loc["a", "outlier"] == "low"
    assert result.points.set_index("group").loc["a", "y"] == 0.0


def test_shmi_zero_observed_gives_minus_infinity_and_is_truncated() -> None:
    # As FunnelPlotR: log(0) = -Inf, the unit is truncated out of phi, and it is a low outlier.
    result = funnel(
        [0, 50, 60, 55, 40, 52, 48, 70, 45, 51],
        [20.0] + [50.0] * 9,
        "SR",
        groups=list("abcdefghij"),
    )
    a = result.points.set_index("group").loc["a"]
    assert a["z"] == -np.inf and a["trimmed"] and np.isnan(a["z_winsorised"])
    assert a["outlier"] == "low"
    assert np.isfinite(result.phi)


def test_pr_limits_pinned_at_zero_and_one_for_tiny_denominators(
    oracle: dict[str, pd.DataFrame],
) -> None:
    # FunnelPlotR 0.6.0, call PR_no_overdisp: U16 (2/5) has LCL99 exactly 0, PR_default U16
    # has OD99UCL exactly 1: arcsine limits that wrapped are pinned.
    result, *_ = _run_call(oracle, "PR_no_overdisp")
    assert result.points.set_index("group").loc["U16", "lower_998"] == 0.0
    result, *_ = _run_call(oracle, "PR_default")
    assert result.points.set_index("group").loc["U16", "upper_998"] == 1.0


def test_pr_limits_pinned_wherever_the_angle_wraps() -> None:
    # Departure 5 (docs/METHODS.md). Found by the property tests: 47/490 and nineteen 0/1 give a
    # target of 9.2%; at n = 1 the 99.8% angle is just past pi/2, so sin² folds back to 0.922,
    # below the 95% limit's 0.923. FunnelPlotR's next-grid-point test (its next point, n = 3,
    # has 0.869) does not see that fold; the angle does, so the limit is 1.
    num = np.r_[np.zeros(6), 47, np.zeros(13)]
    den = np.r_[np.ones(6), 490, np.ones(13)]
    result = funnel(num, den, "PR", adjust=False, limit=95)
    small = result.points.loc[result.points["denominator"] == 1].iloc[0]
    assert small["upper_998"] == 1.0
    assert small["upper_95"] == pytest.approx(0.922529, abs=1e-6)  # not wrapped, as FunnelPlotR
    # At the largest denominator (nothing larger to compare with) the same rule applies.
    # 0/200 beside 1/150 and 1/100 (target 0.44%): its lower angle is below 0.
    lone = funnel([0, 1, 1], [200, 150, 100], "PR", adjust=False).points
    biggest = lone.loc[lone["denominator"] == 200].iloc[0]
    assert biggest["lower_998"] == 0.0 and biggest["outlier"] != "low"


def test_duplicate_groups_are_summed() -> None:
    once = funnel([30, 70, 40, 80], [100, 150, 100, 200], groups=["a", "b", "c", "d"])
    split = funnel([10, 20, 70, 40, 80], [40, 60, 150, 100, 200], groups=["a", "a", "b", "c", "d"])
    pd.testing.assert_frame_equal(once.points, split.points)


def test_zero_and_missing_denominators_are_dropped_and_named() -> None:
    result = funnel([0, 0, 30, 40, 50], [0, np.nan, 100, 120, 110], groups=list("vwxyz"))
    assert result.dropped == ("v", "w")
    assert result.points["group"].tolist() == ["x", "y", "z"]


def test_no_usable_group_is_an_input_error() -> None:
    with pytest.raises(InputError, match="No group has a positive denominator"):
        funnel([0, 0], [0, 0], groups=["a", "b"])


def test_single_unit_has_no_overdispersion() -> None:
    result = funnel([30], [100], groups=["a"])
    assert result.tau2 == 0 and not result.adjusted and len(result.points) == 1


@pytest.mark.parametrize(
    ("numerator", "denominator", "kwargs", "message"),
    [
        ([-1, 5], [10, 10], {}, "numerator is negative in 1 row"),
        ([1, 5], [10, -10], {"data_type": "RC"}, "denominator is negative in 1 row"),
        ([11, 5], [10, 10], {}, "numerator exceeds denominator .* 1 row"),
        ([1, np.inf], [10, 10], {}, "numerator is infinite"),
        ([1, 2], [10, 10], {"data_type": "XX"}, "data_type"),
        ([1, 2], [10, 10], {"limit": 99}, "limit must be 95 or 99.8"),
        ([1, 2], [10, 10], {"sr_method": "ONS", "data_type": "SR"}, "sr_method"),
        ([1, 2], [10, 10], {"trim": 0.5}, "trim"),
        ([1, 2], [10, 10], {"multiplier": 0}, "multiplier"),
        (["a", 2], [10, 10], {}, "numerator must be numeric"),
    ],
)
def test_validation(numerator, denominator, kwargs, message) -> None:
    with pytest.raises(InputError, match=message):
        funnel(numerator, denominator, groups=["g1", "g2"], **kwargs)


def test_validation_names_the_rows() -> None:
    with pytest.raises(InputError, match="g2"):
        funnel([1, 12], [10, 10], groups=["g1", "g2"])
    # A numerator above its denominator is fine for standardised ratios and ratios of counts.
    assert funnel([12, 8, 10], [10, 10, 10], "SR", groups=["a", "b", "c"]).points.shape[0] == 3


# --------------------------------------------------------------------------- properties


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("data_type", ["PR", "SR", "RC"])
def test_998_band_contains_95_band(seed: int, data_type: str) -> None:
    rng = np.random.default_rng(seed)
    den = rng.integers(1, 2000, 60).astype(float)
    num = rng.binomial(den.astype(int), rng.uniform(0.05, 0.95, 60)).astype(float)
    result = funnel(num, den, data_type, groups=np.arange(60))
    for prefix in ("", "unadjusted_", "adjusted_"):
        p = result.points
        assert (p[f"{prefix}lower_998"] <= p[f"{prefix}lower_95"] + 1e-12).all()
        assert (p[f"{prefix}upper_998"] >= p[f"{prefix}upper_95"] - 1e-12).all()
    grid = result.limits_grid(50)
    assert (grid["lower_998"] <= grid["lower_95"] + 1e-12).all()
    assert (grid["upper_998"] >= grid["upper_95"] - 1e-12).all()


@pytest.mark.parametrize("seed", range(10))
def test_no_overdispersion_means_unadjusted(seed: int) -> None:
    # DerSimonian–Laird: tau² = 0 whenever n·phi ≤ n − 1 (so whenever phi ≤ 1 − 1/n), and then
    # FunnelPlotR falls back to unadjusted limits.
    rng = np.random.default_rng(seed)
    den = rng.integers(200, 3000, 50).astype(float)
    num = rng.binomial(den.astype(int), 0.3).astype(float)
    result = funnel(num, den, groups=np.arange(50))
    n = int((~result.points["z_winsorised"].isna()).sum())
    assert result.phi < 2  # binomial data: phi near or below 1
    if n * result.phi <= n - 1:
        assert result.tau2 == 0 and not result.adjusted
        assert (result.points["lower_998"] == result.points["unadjusted_lower_998"]).all()
    else:
        assert result.tau2 > 0 and result.adjusted


def test_adjustment_applies_from_dersimonian_laird_not_phi_above_one() -> None:
    # FunnelPlotR's tau_func gives tau² > 0 once n·phi > n − 1, so a phi just below 1 still
    # adjusts (R/od_adjustment.R, tau_func; funnel_plot() switches on tau2 == 0, not phi).
    den = np.full(10, 400.0)
    # z-scores chosen so that phi ≈ 0.94 > (n − 1)/n = 0.9; the two most extreme at each end
    # are equal, so winsorisation flags them without changing them.
    target = 0.5
    z = np.array([1.0, -1.0, 1.0, -1.0, 0.95, -0.95, 0.95, -0.95, 0.95, -0.95])
    num = np.sin(np.arcsin(np.sqrt(target)) + z / (2 * np.sqrt(den))) ** 2 * den
    result = funnel(num, den, groups=np.arange(10))
    assert (9 / 10) < result.phi <= 1
    assert result.tau2 > 0 and result.adjusted


def test_phi_and_tau2_zero_when_not_adjusting(oracle: dict[str, pd.DataFrame]) -> None:
    result, *_ = _run_call(oracle, "PR_unadjusted95")
    assert result.phi == 0 and result.tau2 == 0 and not result.adjusted


def test_limits_grid_ends_at_the_smallest_and_largest_units(
    oracle: dict[str, pd.DataFrame],
) -> None:
    for call_id in ("PR_default", "PR_no_overdisp", "SR_SHMI_od", "RC_od", "SR_CQC", "SR_CQC_od"):
        result, *_ = _run_call(oracle, call_id)
        grid = result.limits_grid(200)
        assert len(grid) == 200 and grid["denominator"].is_monotonic_increasing
        p = result.points.sort_values("denominator")
        columns = [c for c in grid.columns if c != "denominator"]
        for grid_row, unit in ((grid.iloc[0], p.iloc[0]), (grid.iloc[-1], p.iloc[-1])):
            assert grid_row["denominator"] == pytest.approx(unit["denominator"], rel=1e-12)
            for col in columns:
                assert grid_row[col] == pytest.approx(unit[col], abs=TOL), (call_id, col)
        if result.data_type == "PR":
            assert (np.diff(grid["lower_998"]) >= 0).all()  # no wrapped limits left
            assert (np.diff(grid["upper_998"]) <= 0).all()


def test_limits_grid_starts_at_the_smallest_nonzero_denominator() -> None:
    # Found at practice scale: a rare-event rate's expected counts (0.0014 events) round to
    # 0.00 under SHMI rounding, and np.geomspace cannot start at zero. Those units have no
    # finite limits; the grid spans the others, and is empty when there are none.
    result = funnel([0, 1, 2, 3], [0.001, 0.5, 1.5, 3.0], "SR")
    assert result.points["denominator"].min() == 0  # 0.001 rounded to 0.00
    grid = result.limits_grid(20)
    assert grid["denominator"].iloc[0] == pytest.approx(0.5)
    assert grid["denominator"].iloc[-1] == pytest.approx(3.0)
    assert np.isfinite(grid["upper_998"]).all()
    none = funnel([0, 0], [0.001, 0.002], "SR").limits_grid(20)
    assert none.empty
    assert list(none.columns) == list(grid.columns)


def test_multiplier_scales_value_target_and_limits(oracle: dict[str, pd.DataFrame]) -> None:
    plain, *_ = _run_call(oracle, "PR_default")
    scaled, *_ = _run_call(oracle, "PR_multiplier100")
    for col in ("value", "target", "lower_95", "upper_998"):
        np.testing.assert_allclose(scaled.points[col], 100 * plain.points[col], atol=1e-9)
    assert scaled.target == pytest.approx(100 * plain.target)
    pd.testing.assert_series_equal(scaled.points["z"], plain.points["z"])


# --------------------------------------------------------------------------- polarity


@pytest.mark.parametrize(
    ("outlier", "polarity", "expected"),
    [
        ("high", "higher_is_better", "better than expected"),
        ("low", "higher_is_better", "concern"),
        ("high", "lower_is_better", "concern"),
        ("low", "lower_is_better", "better than expected"),
        ("high", "no_judgement", ""),
        ("low", "no_judgement", ""),
        ("", "higher_is_better", ""),
        ("", "lower_is_better", ""),
    ],
)
def test_polarity_concern(outlier: str, polarity: str, expected: str) -> None:
    assert polarity_concern(outlier, polarity) == expected


def test_reversing_polarity_swaps_concern_and_better() -> None:
    outliers = pd.Series(["high", "", "low", "high"], index=[10, 11, 12, 13])
    up = polarity_concern(outliers, "higher_is_better")
    down = polarity_concern(outliers, "lower_is_better")
    swap = {"concern": "better than expected", "better than expected": "concern", "": ""}
    assert down.tolist() == [swap[v] for v in up]
    assert list(up.index) == [10, 11, 12, 13]
    assert polarity_concern(["high", "low"], "higher_is_better").tolist() == [
        "better than expected",
        "concern",
    ]


@pytest.mark.parametrize("dtype", [object, "category", "str"])
def test_polarity_concern_of_a_series_reads_missing_as_in_control(dtype) -> None:
    """Missing outliers (no funnel judgement) give "", as blanks do, whatever the column's
    dtype; the result is plain text on the input's index."""
    outliers = pd.Series(["high", None, "low", "", np.nan], index=[5, 6, 7, 8, 9], dtype=dtype)
    got = polarity_concern(outliers, "lower_is_better")
    assert got.tolist() == ["concern", "", "better than expected", "", ""]
    assert list(got.index) == [5, 6, 7, 8, 9] and got.dtype == object
    assert polarity_concern(outliers, "no_judgement").tolist() == [""] * 5


def test_polarity_concern_rejects_unknowns() -> None:
    with pytest.raises(InputError, match="polarity"):
        polarity_concern("high", "up")
    with pytest.raises(InputError, match="outlier"):
        polarity_concern("upper", "higher_is_better")
