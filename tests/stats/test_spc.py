"""XmR (Making Data Count) SPC: NHSRplotthedots 0.2.2 golden values, rule edge cases, properties."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from iaf.errors import InputError
from iaf.stats import spc
from iaf.stats.spc import POINT_TYPES, SPC_LABELS, p_prime, xmr, xmr_summary

ATOL = 1e-9

SERIES = [
    "constant",
    "float_tie_mean",
    "outside_then_near",
    "proportion_like",
    "run_broken_by_mean",
    "run_of_6_below",
    "run_of_7_below",
    "shift_up",
    "single_outlier_high",
    "single_outlier_low",
    "stable",
    "trend_down",
    "trend_up",
    "trend_with_tie",
    "two_in_three_high",
    "two_in_three_mixed_sides",
]
TARGETS = {
    "stable": 45,
    "shift_up": 55,
    "trend_up": 60,
    "constant": 50,
    "single_outlier_high": 50,
    "proportion_like": 0.6,
}
# Provenance of every golden value below: NHSRplotthedots 0.2.2 (commit 050b07d7), R 4.2.2, run
# 2026-11-23 — ../shared/oracles/ptd_xmr_points.csv and ptd_xmr_summary.csv; exact calls in
# ../shared/oracles/ptd_xmr_calls.csv. Each entry maps a call_id to our equivalent arguments.
CALLS = {
    # ptd_spc(df, value, date, facet_field = series, improvement_direction = "increase")
    "A_increase": {"improvement": "increase"},
    # ptd_spc(df, value, date, facet_field = series, improvement_direction = "decrease")
    "B_decrease": {"improvement": "decrease"},
    # ptd_spc(df, value, date, facet_field = series, improvement_direction = "neutral")
    "C_neutral": {"improvement": "neutral"},
    # ptd_spc(df, value, date, facet_field = series, improvement_direction = "increase",
    #         screen_outliers = FALSE)
    "D_no_screening": {"improvement": "increase", "screen_outliers": False},
    # ptd_spc(df, value, date, facet_field = series, improvement_direction = "increase",
    #         rebase = as.Date("2021-01-01"))
    "E_rebase_month13": {"improvement": "increase", "rebase": ["2021-01-01"]},
    # ptd_spc(df, value, date, facet_field = series, improvement_direction = "increase",
    #         fix_after_n_points = 12)
    "F_fix_after_12": {"improvement": "increase", "fix_after_n_points": 12},
    # ptd_spc(df, value, date, facet_field = series, improvement_direction = "increase",
    #   target = ptd_target(stable = 45, shift_up = 55, trend_up = 60, constant = 50,
    #                       single_outlier_high = 50, proportion_like = 0.6))
    "G_target_inc": {"improvement": "increase", "target": TARGETS},
    # same targets, improvement_direction = "decrease"
    "H_target_dec": {"improvement": "decrease", "target": TARGETS},
    # ptd_spc(short, value, date, improvement_direction = "increase", target = 11)
    "I_short_series": {"improvement": "increase", "target": 11},
    # ptd_spc(withna, value, date, improvement_direction = "increase")
    "J_missing_value": {"improvement": "increase"},
}
GOLDEN_POINTS = [(cid, s) for cid in list(CALLS)[:8] for s in SERIES] + [
    ("I_short_series", "no facet"),
    ("J_missing_value", "no facet"),
]
NUMBER_COLUMNS = ["mean", "lpl", "upl", "relative_to_mean", "target"]
FLAG_COLUMNS = ["outside_limits", "close_to_limits"]
LABEL_COLUMNS = [
    "special_cause_type",
    "special_cause_flag",
    "point_type",
    "short_group_warning",
    "rebase_group",
]


@cache
def _oracle(path: Path) -> pd.DataFrame:
    return pd.read_csv(path)


@cache
def _run_call(oracles: Path, call_id: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(expected points, our points) for one call_id, the input rebuilt from the oracle rows."""
    expected = _oracle(oracles / "ptd_xmr_points.csv").query("call_id == @call_id")
    frame = expected[["series", "date", "value"]].assign(period=pd.to_datetime(expected["date"]))
    # the oracle lists series alphabetically, as our output does; shuffle to prove we sort
    got = xmr(frame.sample(frac=1, random_state=0), **CALLS[call_id])
    return expected.reset_index(drop=True), got


def _flags(column: pd.Series) -> np.ndarray:
    """Nullable booleans as 1.0 / 0.0 / NaN, whether read from CSV or produced by xmr."""
    return column.astype("object").map({True: 1.0, False: 0.0}).astype(float).to_numpy()


def _labels(column: pd.Series) -> np.ndarray:
    return column.astype("object").where(column.notna(), "<NA>").astype(str).to_numpy()


def _assert_points_match(expected: pd.DataFrame, got: pd.DataFrame) -> None:
    assert len(got) == len(expected)
    assert (got["period"].dt.strftime("%Y-%m-%d").to_numpy() == expected["date"].to_numpy()).all()
    np.testing.assert_array_equal(got["value"].to_numpy(), expected["value"].to_numpy())
    for column in NUMBER_COLUMNS:
        np.testing.assert_allclose(
            got[column].to_numpy(float), expected[column].to_numpy(float), atol=ATOL, rtol=0,
            err_msg=column,
        )  # fmt: skip
    for column in FLAG_COLUMNS:
        np.testing.assert_array_equal(_flags(got[column]), _flags(expected[column]), column)
    for column in LABEL_COLUMNS:
        np.testing.assert_array_equal(_labels(got[column]), _labels(expected[column]), column)


# --------------------------------------------------------------------------------------------
# Golden tests
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call_id", "series"), GOLDEN_POINTS, ids=[f"{c}-{s}" for c, s in GOLDEN_POINTS]
)
def test_points_match_nhsrplotthedots(oracles_dir: Path, call_id: str, series: str) -> None:
    # NHSRplotthedots 0.2.2 ptd_spc(...) — ../shared/oracles/ptd_xmr_points.csv, call <call_id>
    # (exact call in CALLS above and in ptd_xmr_calls.csv)
    expected, got = _run_call(oracles_dir, call_id)
    _assert_points_match(
        expected[expected["series"] == series].reset_index(drop=True),
        got[got["series"] == series].reset_index(drop=True),
    )


@pytest.mark.parametrize("call_id", list(CALLS))
def test_summary_matches_nhsrplotthedots(oracles_dir: Path, call_id: str) -> None:
    # NHSRplotthedots 0.2.2 summary(ptd_spc(...)) and ptd_calculate_assurance_type —
    # ../shared/oracles/ptd_xmr_summary.csv, call <call_id>
    expected = _oracle(oracles_dir / "ptd_xmr_summary.csv").query("call_id == @call_id")
    expected = expected.reset_index(drop=True)
    got = xmr_summary(_run_call(oracles_dir, call_id)[1])
    assert list(got["series"]) == list(expected["series"])
    for column in ["mean", "lpl", "upl"]:
        np.testing.assert_allclose(got[column], expected[column], atol=ATOL, rtol=0)
    for column in [
        "rebase_group",
        "n",
        "common_cause",
        "special_cause_improvement",
        "special_cause_concern",
        "variation_type_last_point",
        "assurance_type",
    ]:
        np.testing.assert_array_equal(_labels(got[column]), _labels(expected[column]), column)


UPSTREAM_CASES = {
    # NHSRplotthedots' own tests/testthat/test-ptd_spc_standard.R data, re-run at full precision
    # with ptd_spc(..., improvement_direction = "increase") — ../shared/oracles/upstream_fixtures/
    # NHSRplotthedots/ptd_spc_standard_testdata_rerun.csv, column `case`.
    "r1_rnorm20_seed123": {},
    "r2_y15_eq_10_screened": {},
    "r3_y15_eq_10_unscreened": {"screen_outliers": False},
    "two_in_three_opposite_sides": {},
}


@pytest.mark.parametrize("case", list(UPSTREAM_CASES))
def test_upstream_fixture(oracles_dir: Path, case: str) -> None:
    path = (
        oracles_dir
        / "upstream_fixtures"
        / "NHSRplotthedots"
        / "ptd_spc_standard_testdata_rerun.csv"
    )
    expected = _oracle(path).query("case == @case").reset_index(drop=True)
    frame = expected.assign(series=case, period=pd.to_datetime(expected["date"]))
    got = xmr(frame, **UPSTREAM_CASES[case])
    for column in ["mean", "lpl", "upl", "relative_to_mean"]:
        np.testing.assert_allclose(got[column], expected[column], atol=ATOL, rtol=0)
    for column in FLAG_COLUMNS:
        np.testing.assert_array_equal(_flags(got[column]), _flags(expected[column]), column)
    for column in ["special_cause_type", "point_type"]:
        np.testing.assert_array_equal(_labels(got[column]), _labels(expected[column]), column)


def test_mean_equal_to_a_data_point_is_on_the_mean(oracles_dir: Path) -> None:
    # NHSRplotthedots 0.2.2 — ptd_xmr_points.csv, call A_increase, series float_tie_mean:
    # 2020-05-01 = 52.68 = the mean, so relative_to_mean is 0 (it breaks the run of 7 below).
    expected, got = _run_call(oracles_dir, "A_increase")
    tie = got[(got["series"] == "float_tie_mean") & (got["value"] == 52.68)]
    assert tie["mean"].item() == 52.68
    assert tie["relative_to_mean"].item() == 0
    # the reason for R's long-double two-pass mean: a naive float64 mean misses the tie
    values = expected.loc[expected["series"] == "float_tie_mean", "value"].to_numpy()
    assert values.sum() / len(values) != 52.68


# --------------------------------------------------------------------------------------------
# One rule at a time (2-D arrays: one row per group, one column per point)
# --------------------------------------------------------------------------------------------


def _row(values) -> np.ndarray:
    return np.asarray([values], dtype=float)


@pytest.mark.parametrize(
    ("y", "expected"),
    [
        pytest.param([1, 2, 3, 4, 5, 6, 7], [1] * 7, id="exactly-7-rising"),
        pytest.param([7, 6, 5, 4, 3, 2, 1], [1] * 7, id="exactly-7-falling"),
        pytest.param([1, 2, 3, 4, 5, 6], [0] * 6, id="6-rising"),
        pytest.param([1, 2, 3, 3, 4, 5, 6], [0] * 7, id="tie-breaks-trend"),
        pytest.param([2, 1, 2, 3, 4, 5, 6, 7, 3], [0, 1, 1, 1, 1, 1, 1, 1, 0], id="inside"),
        pytest.param([1, 2, 3, np.nan, 4, 5, 6, 7], [0] * 8, id="missing-breaks-trend"),
        pytest.param([1, 2, 3, 4, 5, 6, 7, 6, 5, 4, 3, 2, 1], [1] * 13, id="peak"),
        pytest.param([], [], id="empty"),
    ],
)
def test_rule_trend(y, expected) -> None:
    y = np.asarray([y], dtype=float).reshape(1, -1)
    np.testing.assert_array_equal(spc.rule_trend(y)[0], np.asarray(expected, dtype=bool))


def test_trend_direction_labels_a_peak_shared_by_two_trends() -> None:
    # the peak belongs to both trends; ptd_special_cause_type labels it by the step that follows,
    # and the last point of a trend by the step that led to it
    y = _row([*range(1, 8), *range(6, 0, -1)])
    direction = spc._trend_direction(y, spc.rule_trend(y))[0]
    assert list(direction) == [1] * 6 + [-1] * 7


@pytest.mark.parametrize(
    ("side", "expected"),
    [
        pytest.param([1] * 7, [1] * 7, id="exactly-7-above"),
        pytest.param([-1] * 7, [1] * 7, id="exactly-7-below"),
        pytest.param([1] * 6, [0] * 6, id="6-above"),
        pytest.param([1, 1, 1, 0, 1, 1, 1, 1], [0] * 8, id="point-on-mean-breaks-run"),
        pytest.param([1, 1, 1, 1, 1, 1, 1, 1, -1], [1] * 8 + [0], id="8-then-switch"),
        pytest.param([1] * 6 + [-1], [0] * 7, id="6-then-switch"),
    ],
)
def test_rule_run(side, expected) -> None:
    np.testing.assert_array_equal(spc.rule_run(_row(side))[0], np.asarray(expected, dtype=bool))


@pytest.mark.parametrize(
    ("close", "side", "expected"),
    [
        # NHSRplotthedots tests/testthat/test-ptd_calculate_point_type.R, ptd_part_of_two_in_three
        pytest.param([1, 0, 1], [1, 1, 1], [1, 0, 1], id="2-of-3-ends"),
        pytest.param([0, 1, 1], [1, 1, 1], [0, 1, 1], id="2-of-3-last"),
        pytest.param([1, 1, 0], [1, 1, 1], [1, 1, 0], id="2-of-3-first"),
        pytest.param([0, 0, 1, 0, 1, 0, 0], [1] * 7, [0, 0, 1, 0, 1, 0, 0], id="gap-of-one"),
        pytest.param([1, 0, 0, 1], [1] * 4, [0, 0, 0, 0], id="gap-of-two"),
        pytest.param([1, 0, 0, 1, 1], [1] * 5, [0, 0, 0, 1, 1], id="later-pair"),
        pytest.param([1, 0, 1], [1, -1, 1], [0, 0, 0], id="middle-point-other-side"),
        pytest.param([1, 0, 1], [1, 0, 1], [0, 0, 0], id="middle-point-on-mean"),
        pytest.param([0, 1, 1, 0], [1, 1, -1, -1], [0, 0, 0, 0], id="pair-on-opposite-sides"),
        pytest.param([1, 1], [1, 1], [0, 0], id="only-two-points"),
    ],
)
def test_rule_two_in_three(close, side, expected) -> None:
    got = spc.rule_two_in_three(_row(close).astype(bool), _row(side))[0]
    np.testing.assert_array_equal(got, np.asarray(expected, dtype=bool))


def test_rule_precedence_outside_then_trend_then_two_in_three_then_run() -> None:
    # every point is flagged by all four rules; the label comes from the first in precedence
    yes, no = np.ones((1, 4), bool), np.zeros((1, 4), bool)
    side, up = np.ones((1, 4)), np.ones((1, 4))
    cases = [
        ((yes, yes, yes, yes), "Above UCL"),
        ((no, yes, yes, yes), "7 Point Trend (Increasing)"),
        ((no, no, yes, yes), "2 in 3 Above CL"),
        ((no, no, no, yes), "7 Points Above CL"),
        ((no, no, no, no), "Common Cause"),
    ]
    for flags, label in cases:
        code = spc._special_cause_code(*flags, side, up)
        assert {SPC_LABELS[c] for c in code[0]} == {label}


# --------------------------------------------------------------------------------------------
# Options and edge cases through the public API
# --------------------------------------------------------------------------------------------


def _frame(values, series="s", periods=None) -> pd.DataFrame:
    periods = range(len(values)) if periods is None else periods
    return pd.DataFrame({"series": series, "period": list(periods), "value": values})


TWO_IN_THREE_2023 = [50, 51, 49, 50, 51, 49, 50, 51, 49, 50, 51, 49, 62, 55, 51, 49, 50, 51, 49, 50]


def test_rules_2023_counts_points_beyond_the_limits_towards_two_in_three() -> None:
    # constructed: 62 is beyond the UCL, 55 is between 2σ and 3σ, 51 above the mean. Under the
    # 2019 rule (NHSRplotthedots 0.2.2) only one point of the three is "close", so 55 is common
    # cause; the November 2023 MDC rule counts 62 as well, so 55 is "2 in 3 Above CL".
    frame = _frame(TWO_IN_THREE_2023)
    old, new = xmr(frame), xmr(frame, rules="2023")
    assert bool(old.loc[12, "outside_limits"]) and bool(old.loc[13, "close_to_limits"])
    assert old.loc[13, "special_cause_type"] == "Common Cause"
    assert new.loc[13, "special_cause_type"] == "2 in 3 Above CL"
    assert new.loc[12, "special_cause_type"] == "Above UCL"
    changed = old["special_cause_type"].astype(str) != new["special_cause_type"].astype(str)
    assert list(np.flatnonzero(changed)) == [13]
    assert set(new["rules"]) == {"2023"}


def test_single_point_and_constant_series_have_no_limits_and_no_signal() -> None:
    got = xmr(pd.concat([_frame([5.0], "one"), _frame([3.0] * 8, "flat")]))
    assert got["lpl"].isna().all() and got["upl"].isna().all()
    assert got["outside_limits"].isna().all() and got["close_to_limits"].isna().all()
    assert (got["special_cause_type"] == "Common Cause").all()
    assert got["short_group_warning"].all()


def test_empty_frame_gives_empty_points() -> None:
    got = xmr(_frame([]).astype({"value": float}))
    assert got.empty
    assert list(got.columns)[:3] == ["series", "period", "value"]


def test_missing_value_is_kept_unflagged_and_breaks_a_run() -> None:
    values = [48, 52, 47, 53, 48, 52, 47, 53, 48, 52, 51, 52, 51, np.nan, 52, 51, 52, 51]
    got = xmr(_frame(values))
    gap = got.loc[13]
    assert pd.isna(gap["outside_limits"]) and pd.isna(gap["close_to_limits"])
    assert np.isnan(gap["relative_to_mean"]) and gap["special_cause_type"] == "Common Cause"
    # three points above, the gap, four points above: no run of 7 (without the gap there is one)
    assert not got["special_cause_type"].astype(str).str.startswith("7 Points").any()
    without_gap = xmr(_frame([v for v in values if not np.isnan(v)]))
    assert without_gap["special_cause_type"].astype(str).str.startswith("7 Points").any()


def test_rebase_per_series_and_fix_after_n_points() -> None:
    frame = pd.concat([_frame([1, 2, 3, 4, 10, 11, 12, 13], "a"), _frame([1, 2, 3, 4] * 2, "b")])
    got = xmr(frame, rebase={"a": [4]})
    a, b = got[got["series"] == "a"], got[got["series"] == "b"]
    assert list(a["rebase_group"]) == [0] * 4 + [1] * 4
    assert list(a["mean"]) == [2.5] * 4 + [11.5] * 4
    assert (b["rebase_group"] == 0).all() and (b["mean"] == 2.5).all()

    fixed = xmr(_frame([1, 2, 3, 4, 10, 11, 12, 13]), fix_after_n_points=4)
    assert (fixed["mean"] == 2.5).all()
    np.testing.assert_allclose(fixed["upl"], 2.5 + spc.LIMIT_SIGMAS * 1.0, atol=ATOL)


def test_string_period_keys_sort_and_rebase() -> None:
    periods = ["2017/18 Q3", "2017/18 Q1", "2017/18 Q2", "2017/18 Q4", "2018/19 Q1"]
    got = xmr(_frame([3.0, 1.0, 2.0, 4.0, 9.0], periods=periods), rebase=["2017/18 Q4"])
    assert list(got["period"]) == sorted(periods)
    assert list(got["value"]) == [1.0, 2.0, 3.0, 4.0, 9.0]
    assert list(got["rebase_group"]) == [0, 0, 0, 1, 1]


def test_summary_assurance_follows_target_and_direction() -> None:
    frame = _frame(TWO_IN_THREE_2023)
    lpl, upl = xmr(frame).loc[0, ["lpl", "upl"]]
    cases = [
        (upl + 1, "increase", "consistent_fail"),
        (upl + 1, "decrease", "consistent_pass"),
        (lpl - 1, "increase", "consistent_pass"),
        (lpl - 1, "decrease", "consistent_fail"),
        ((lpl + upl) / 2, "increase", "inconsistent"),
    ]
    for target, improvement, icon in cases:
        summary = xmr_summary(xmr(frame, target=target, improvement=improvement))
        assert summary["assurance_type"].item() == icon
    assert pd.isna(
        xmr_summary(xmr(frame, target=upl + 1, improvement="neutral"))["assurance_type"]
    ).all()
    assert pd.isna(xmr_summary(xmr(frame))["assurance_type"]).all()


# --------------------------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------------------------


def _random_series(seed: int, n_series: int = 40, length: int = 24) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    shift = np.repeat(rng.choice([0.0, 4.0], size=(n_series, 2)), length // 2, axis=1).ravel()
    trend = np.tile(np.arange(length) * rng.choice([0.0, 0.6]), n_series)
    return pd.DataFrame(
        {
            "series": np.repeat([f"s{i:02d}" for i in range(n_series)], length),
            "period": np.tile(pd.date_range("2020-01-01", periods=length, freq="MS"), n_series),
            "value": np.round(rng.normal(50, 2, n_series * length) + shift + trend, 1),
        }
    )


@pytest.mark.parametrize("seed", range(5))
def test_swapping_improvement_direction_swaps_improvement_and_concern(seed: int) -> None:
    frame = _random_series(seed)
    up, down = xmr(frame, improvement="increase"), xmr(frame, improvement="decrease")
    neutral = xmr(frame, improvement="neutral")
    assert (up["special_cause_type"] == down["special_cause_type"]).all()
    swap = {
        "special_cause_improvement": "special_cause_concern",
        "special_cause_concern": "special_cause_improvement",
        "common_cause": "common_cause",
    }
    assert (up["point_type"].astype(str).map(swap) == down["point_type"].astype(str)).all()
    assert up["special_cause_flag"].any(), "the property needs some special causes to bite"
    high = up["special_cause_type"].astype(str).str.contains("Above|Increasing")
    expected_neutral = np.where(
        ~up["special_cause_flag"], "common_cause",
        np.where(high, "special_cause_neutral_high", "special_cause_neutral_low"),
    )  # fmt: skip
    assert (neutral["point_type"].astype(str).to_numpy() == expected_neutral).all()


@pytest.mark.parametrize("seed", range(3))
def test_many_series_at_once_equal_one_at_a_time(seed: int) -> None:
    frame = _random_series(seed, n_series=12)
    frame = frame[~((frame["series"] == "s03") & (frame.index % 24 > 15))]  # a shorter series
    together = xmr(frame.sample(frac=1, random_state=seed), rebase=["2020-09-01"])
    apart = pd.concat(
        [xmr(group, rebase=["2020-09-01"]) for _, group in frame.groupby("series")],
        ignore_index=True,
    )
    pd.testing.assert_frame_equal(together, apart)


@pytest.mark.parametrize("seed", range(3))
def test_limits_contain_the_mean_and_flags_agree_with_values(seed: int) -> None:
    got = xmr(_random_series(seed))
    assert (got["lpl"] <= got["mean"]).all() and (got["mean"] <= got["upl"]).all()
    outside = (got["value"] > got["upl"]) | (got["value"] < got["lpl"])
    assert (got["outside_limits"].astype(bool) == outside).all()
    assert not (got["outside_limits"] & got["close_to_limits"]).any()
    assert set(got["point_type"].astype(str)) <= set(POINT_TYPES)


# --------------------------------------------------------------------------------------------
# Boundary validation
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("frame", "kwargs", "message"),
    [
        pytest.param(_frame([1.0, 2.0]), {"improvement": "up"}, "improvement", id="direction"),
        pytest.param(_frame([1.0, 2.0]), {"rules": "2021"}, "rules", id="rules"),
        pytest.param(_frame([1.0, 2.0]), {"fix_after_n_points": 1}, "fix_after", id="fix"),
        pytest.param(
            _frame([1.0, 2.0], periods=[1, 1]), {}, "duplicated in 2 rows: s 1, s 1", id="dup"
        ),
        pytest.param(  # dates as written, not "2020-01-31 00:00:00"
            _frame([1.0, 2.0], periods=pd.to_datetime(["2020-01-31"] * 2)),
            {},
            "duplicated in 2 rows: s 2020-01-31, s 2020-01-31.",
            id="dup-dates",
        ),
        pytest.param(
            _frame(pd.Series([1, "x", 3], dtype=object)),
            {},
            "non-numeric values in 1 rows: s 1",
            id="non-numeric",
        ),
        pytest.param(_frame(["a", "b"]), {}, "must be numeric", id="strings"),
        pytest.param(_frame([1.0, np.inf]), {}, "infinite", id="infinite"),
        pytest.param(_frame([1.0, 2.0]).drop(columns="value"), {}, "'value'", id="no-column"),
        pytest.param(_frame([1.0, 2.0]), {"target": {"other": 3}}, "target", id="target-series"),
        pytest.param(_frame([1.0, 2.0]), {"rebase": {"other": [1]}}, "rebase", id="rebase-series"),
    ],
)
def test_invalid_input_raises_input_error(frame, kwargs, message) -> None:
    with pytest.raises(InputError, match=message.replace("(", r"\(")):
        xmr(frame, **kwargs)


def test_object_column_of_numbers_and_none_is_accepted() -> None:
    got = xmr(_frame(pd.Series([1, None, 3.5, 2], dtype=object)))
    assert np.isnan(got.loc[1, "value"]) and got.loc[2, "value"] == 3.5


# --------------------------------------------------------------------------------------------
# Laney P′ (hand-checked, Laney 2002)
# --------------------------------------------------------------------------------------------

P_PRIME_DATA = pd.DataFrame(
    {
        "series": ["a"] * 3 + ["b"] * 4,
        "period": [1, 2, 3, 1, 2, 3, 4],
        "numerator": [10, 20, 15, 5, 40, 9, 30],
        "denominator": [100, 100, 100, 50, 400, 90, 200],
    }
)


def test_p_prime_with_equal_denominators_is_an_xmr_of_p() -> None:
    # by hand: p = .10, .20, .15; p̄ = 45/300 = .15; moving ranges of p .10, .05, mean .075;
    # σ_p·σ_z = mean mR of p / 1.128, so UCL = .15 + 3 × .075 / 1.128 = 0.349468085...
    got = p_prime(P_PRIME_DATA).query("series == 'a'")
    np.testing.assert_allclose(got["ucl"], 0.15 + 3 * 0.075 / 1.128, atol=ATOL)
    np.testing.assert_allclose(got["lcl"], 0.15 - 3 * 0.075 / 1.128, atol=ATOL)
    assert not got["outside_limits"].any()


def test_p_prime_with_unequal_denominators_matches_hand_calculation() -> None:
    # by hand (4 s.f.): p̄ = 84/740 = 0.1135; z = -0.3012, -0.8520, -0.4041, 1.627;
    # mR 0.5508, 0.4479, 2.031 → mean 1.0098 → σ_z = 0.8952; n = 400: σ_p = 0.01586,
    # UCL = 0.1135 + 3 × 0.01586 × 0.8952 = 0.1561
    got = p_prime(P_PRIME_DATA).query("series == 'b'").reset_index(drop=True)
    np.testing.assert_allclose(got["centre"], 84 / 740, atol=ATOL)
    np.testing.assert_allclose(got["sigma_z"], 0.8952, atol=5e-4)
    np.testing.assert_allclose(got.loc[1, "ucl"], 0.1561, atol=5e-4)
    # wider limits where the denominator is smaller
    width = got["ucl"] - got["lcl"]
    assert list(np.argsort(width.to_numpy())) == list(np.argsort(-got["denominator"].to_numpy()))


def test_p_prime_rejects_numerator_above_denominator() -> None:
    bad = P_PRIME_DATA.assign(numerator=[10, 200, 15, 5, 40, 9, 30])
    with pytest.raises(InputError, match="numerator must not exceed"):
        p_prime(bad)


# --------------------------------------------------------------------------------------------
# Fast paths (sorted input, equal-length reshape, run-wise summary) against the general paths
# --------------------------------------------------------------------------------------------


def _mixed_frame(seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, 30, 120)
    sid = np.repeat(np.arange(len(lengths)), lengths)
    quarter = np.concatenate([np.sort(rng.choice(40, n, replace=False)) for n in lengths])
    value = np.round(np.cumsum(rng.normal(0, 1, len(sid))) + rng.normal(0, 1, len(sid)))
    value[rng.random(len(value)) < 0.05] = np.nan
    periods = pd.date_range("2015-03-31", periods=40, freq="QE")
    return pd.DataFrame({"series": sid, "period": periods[quarter], "value": value})


@pytest.mark.parametrize("seed", [0, 1])
def test_fast_paths_equal_general_paths_on_mixed_lengths(seed: int) -> None:
    frame = _mixed_frame(seed)
    mixed = xmr(frame, target=0.0)
    # general route: shuffled rows are sorted first, and the grouped summary is used
    shuffled = xmr(frame.sample(frac=1, random_state=seed), target=0.0)
    pd.testing.assert_frame_equal(mixed, shuffled, check_exact=True)
    lengths = frame.groupby("series")["value"].transform("size")
    # each equal-length subset takes the reshape path; together they equal the mixed call
    parts = [xmr(frame[lengths == n], target=0.0) for n in sorted(lengths.unique())]
    by_length = pd.concat(parts).sort_values(["series", "period"], ignore_index=True)
    pd.testing.assert_frame_equal(mixed, by_length, check_exact=True)
    # rows interleaved across series (each series still in time order): the groupby path
    interleaved = mixed.sort_values("period", kind="stable", ignore_index=True)
    grouped = xmr_summary(interleaved)
    grouped = grouped.sort_values(["series", "rebase_group"], ignore_index=True)
    pd.testing.assert_frame_equal(xmr_summary(mixed), grouped, check_exact=True)


def test_equal_length_reshape_equals_the_gather_path() -> None:
    frame = _mixed_frame(2)
    frame = frame[frame.groupby("series")["value"].transform("size") == 20]
    y = frame["value"].to_numpy()
    starts = np.arange(0, len(y), 20)
    lengths = np.full(len(starts), 20)
    options = {"fix_after_n_points": None, "screen_outliers": True, "rules": "2019"}
    fast = spc._compute_segments(y, starts, lengths, **options)
    general = spc._compute_segments(y, starts, lengths, **options, fast=False)
    assert len(starts) > 3 and fast.keys() == general.keys()
    for key in fast:
        np.testing.assert_array_equal(fast[key], general[key])
