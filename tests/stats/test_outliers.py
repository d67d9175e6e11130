"""Persistent funnel outliers, latest special cause, and the chance arithmetic beside them.

Expected probabilities are worked by hand from the binomial formula (Spiegelhalter 2005,
doi:10.1002/sim.1970, section 6: n tests at two-sided level L give n(1 − L) false flags), so
they check scipy's binomial tail against closed forms rather than against itself.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from iaf.errors import InputError
from iaf.stats.outliers import (
    chance_note,
    chance_of_at_least,
    chance_of_persistence,
    expected_false_flags,
    latest_special_cause,
    persistent_outliers,
)

QUARTERS = [
    ("2019/20 Q4", "2020-03-31"),
    ("2020/21 Q1", "2020-06-30"),
    ("2020/21 Q2", "2020-09-30"),
    ("2020/21 Q3", "2020-12-31"),
    ("2020/21 Q4", "2021-03-31"),
]


def series(
    area: str,
    flags: list[str],
    *,
    indicator: str = "122b",
    z: list[float] | None = None,
    spc: list[str] | None = None,
    suppressed: list[bool] | None = None,
) -> list[dict]:
    """One area's rows over the last len(flags) of QUARTERS (oldest first)."""
    quarters = QUARTERS[len(QUARTERS) - len(flags) :]
    rows = []
    for i, ((period, end), flag) in enumerate(zip(quarters, flags, strict=True)):
        hidden = bool(suppressed[i]) if suppressed else False
        rows.append(
            {
                "indicator": indicator,
                "area_code": area,
                "period": period,
                "period_end": pd.Timestamp(end),
                "value": np.nan if hidden else 50.0 + i,
                "suppressed": hidden,
                "funnel_outlier": flag,
                "funnel_z": z[i] if z else {"high": 4.0, "low": -4.0, "": 0.0}[flag],
                "spc_point_type": spc[i] if spc else "common_cause",
            }
        )
    return rows


def frame(*parts: list[dict]) -> pd.DataFrame:
    return pd.DataFrame([r for part in parts for r in part])


# ── chance arithmetic ──────────────────────────────────────────────────────────────────────


def test_expected_false_flags_for_the_whole_framework() -> None:
    # 57 indicators × 200 CCGs at 99.8%: 11,400 × 0.002 = 22.8, "about 23".
    assert expected_false_flags(57 * 200) == pytest.approx(22.8, abs=1e-9)
    assert expected_false_flags(1000, 0.95) == pytest.approx(50.0, abs=1e-9)
    assert expected_false_flags(1000, "95") == expected_false_flags(1000, 95)
    assert expected_false_flags(0) == 0


def test_chance_note_sets_flags_against_chance() -> None:
    p = chance_of_at_least(41, 11_400)
    assert chance_note(11_400, 41) == (
        "23 of 11,400 tests would fall outside the 99.8% limits by chance alone; 41 did. "
        f"Seeing 41 or more by chance alone has probability {p:.2g}."
    )
    assert 0.0001 < p < 0.001  # 41 is about 3.8 sd above 22.8


def test_chance_note_below_one_expected_and_no_flags() -> None:
    assert chance_note(200, 0) == (
        "Fewer than 1 (0.4) of 200 tests would fall outside the 99.8% limits by chance alone; "
        "0 did."
    )
    assert chance_note(200, 1, "95").startswith("10 of 200 tests would fall outside the 95%")


@pytest.mark.parametrize(
    ("n_flags", "n_tests", "level", "expected"),
    [
        pytest.param(0, 10, 0.998, 1.0, id="zero-flags-certain"),
        pytest.param(1, 2, 0.998, 1 - 0.998**2, id="1-of-2"),
        pytest.param(2, 2, 0.95, 0.05**2, id="2-of-2-at-95"),
        pytest.param(3, 4, 0.998, 4 * 0.002**3 * 0.998 + 0.002**4, id="3-of-4-closed-form"),
    ],
)
def test_chance_of_at_least_matches_the_closed_form(
    n_flags: int, n_tests: int, level: float, expected: float
) -> None:
    assert chance_of_at_least(n_flags, n_tests, level) == pytest.approx(expected, rel=1e-9)


def test_persistence_is_far_rarer_than_a_single_flag() -> None:
    assert chance_of_persistence(3, 4) == pytest.approx(3.1952e-8, rel=1e-4)
    assert chance_of_persistence(1, 1) == pytest.approx(0.002, rel=1e-9)
    assert chance_of_persistence(4, 4) < chance_of_persistence(3, 4) < chance_of_persistence(2, 4)


@pytest.mark.parametrize(
    "call",
    [
        lambda: expected_false_flags(-1),
        lambda: expected_false_flags(10, 1.5),
        lambda: expected_false_flags(10, "high"),
        lambda: chance_of_at_least(5, 4),
        lambda: chance_of_at_least(1.5, 4),
    ],
    ids=["negative-tests", "level-over-1", "level-word", "more-flags-than-tests", "half-a-flag"],
)
def test_chance_inputs_are_validated(call) -> None:
    with pytest.raises(InputError):
        call()


# ── persistent outliers ────────────────────────────────────────────────────────────────────


def test_persistent_outliers_k_of_last_n() -> None:
    results = frame(
        series("A", ["", "high", "high", "", "high"]),  # 3 of last 4, all high
        series("B", ["", "high", "low", "high", ""]),  # 3 of last 4, mixed
        series("C", ["", "", "low", "", "low"]),  # 2 of last 4: not persistent
        series("D", ["high", "high", "", "", "high"]),  # 3 flags but only 2 in the window
        series("E", ["", "low", "low", "low", "low"]),  # 4 of 4, all low
    )
    got = persistent_outliers(results, k=3, n=4).set_index("area_code")
    assert list(got.index) == ["E", "A", "B"]  # most flags first, then by area
    assert got.loc["A", "direction"] == "all high"
    assert got.loc["B", "direction"] == "mixed"
    assert got.loc["E", "direction"] == "all low"
    assert got.loc["A", "flagged_periods"] == "2020/21 Q1, 2020/21 Q2, 2020/21 Q4"
    assert (got.loc["A", "latest_period"], got.loc["A", "latest_flag"]) == ("2020/21 Q4", "high")
    assert got.loc["B", "latest_flag"] == ""
    assert (got.loc["B", "n_high"], got.loc["B", "n_low"]) == (2, 1)
    assert got.loc["A", "chance_p"] == pytest.approx(4 * 0.002**3 * 0.998 + 0.002**4, rel=1e-9)
    assert got.loc["E", "chance_p"] == pytest.approx(0.002**4, rel=1e-9)
    assert set(got["confidence"]) == {"99.8%"}


def test_window_is_the_indicators_last_periods_not_the_areas() -> None:
    # F's series stops a quarter early: only 3 of the indicator's last 4 quarters are its own.
    stale = series("F", ["high", "high", "high", "high"])[:-1]
    got = persistent_outliers(frame(series("A", ["", "", "", ""]), stale), k=3, n=4)
    assert list(got["area_code"]) == ["F"]
    assert got["n_tested"].iat[0] == 3
    assert got["latest_period"].iat[0] == "2020/21 Q3"


def test_suppressed_periods_are_not_tested_or_flagged() -> None:
    rows = series("A", ["high", "high", "high", "high"], suppressed=[False, True, False, False])
    assert persistent_outliers(frame(rows), k=4, n=4).empty
    got = persistent_outliers(frame(rows), k=3, n=4)
    assert (got["n_tested"].iat[0], got["n_flagged"].iat[0]) == (3, 3)
    assert got["chance_p"].iat[0] == pytest.approx(0.002**3, rel=1e-9)


def test_windows_are_per_indicator() -> None:
    annual = series("A", ["high", "high", "high"], indicator="122a")
    quarterly = series("A", ["high", "", "", "", ""], indicator="122b")
    got = persistent_outliers(frame(annual, quarterly), k=3, n=4)
    assert list(got["indicator"]) == ["122a"]


def test_level_95_uses_funnel_z() -> None:
    # z = 2.5 lies outside 95% limits (1.96) but inside 99.8% (3.09); the column says "".
    rows = series("A", ["", "", "", ""], z=[2.5, -2.5, 2.5, 0.0])
    assert persistent_outliers(frame(rows), k=3, n=4).empty
    got = persistent_outliers(frame(rows), k=3, n=4, level="95")
    assert (got["n_flagged"].iat[0], got["direction"].iat[0]) == (3, "mixed")
    assert got["confidence"].iat[0] == "95%"
    assert got["chance_p"].iat[0] == pytest.approx(4 * 0.05**3 * 0.95 + 0.05**4, rel=1e-9)


def test_persistent_outliers_validation() -> None:
    results = frame(series("A", ["high", "high", "high", "high"]))
    with pytest.raises(InputError, match="1 ≤ k ≤ n"):
        persistent_outliers(results, k=5, n=4)
    with pytest.raises(InputError, match="'funnel_outlier' must be"):
        persistent_outliers(results.assign(funnel_outlier="above"))
    with pytest.raises(InputError, match="'funnel_z'"):
        persistent_outliers(results.drop(columns="funnel_z"), level="95")
    with pytest.raises(InputError, match="repeat an indicator × area × period"):
        persistent_outliers(pd.concat([results, results.tail(1)]))


def test_no_flags_gives_an_empty_frame_with_the_columns() -> None:
    got = persistent_outliers(frame(series("A", ["", "", "", ""])))
    assert got.empty
    assert {"direction", "chance_p", "flagged_periods"} <= set(got.columns)


# ── latest special cause ───────────────────────────────────────────────────────────────────

IMP, CON, CC = "special_cause_improvement", "special_cause_concern", "common_cause"


def test_latest_special_cause_with_run_length() -> None:
    results = frame(
        series("A", ["", "", "", "", ""], spc=[CC, IMP, CC, IMP, IMP]),
        series("B", ["", "", "", "", ""], spc=[CON, CON, CON, CON, CON]),
        series("C", ["", "", "", "", ""], spc=[IMP, IMP, IMP, IMP, CC]),
        series("D", ["", "", "", "", ""], spc=[CC, CC, CC, CC, "special_cause_neutral_high"]),
    )
    got = latest_special_cause(results)
    assert list(got["area_code"]) == ["B", "A"]  # concerns first; C ends common, D neutral
    assert list(got["variation"]) == ["concern", "improvement"]
    assert list(got["n_consecutive"]) == [5, 2]
    assert list(got["n_points"]) == [5, 5]
    assert got["is_latest_period"].all()
    assert list(got["period"]) == ["2020/21 Q4", "2020/21 Q4"]
    with_neutral = latest_special_cause(results, include_neutral=True)
    assert list(with_neutral["area_code"]) == ["B", "A", "D"]


def test_stale_series_is_marked() -> None:
    stale = series("S", ["", "", ""], spc=[CON, CON, CON])[:-1]
    got = latest_special_cause(frame(series("A", ["", ""], spc=[CC, CC]), stale))
    assert list(got["area_code"]) == ["S"]
    assert not got["is_latest_period"].iat[0]


def test_unsorted_input_is_read_in_time_order() -> None:
    rows = series("A", ["", "", ""], spc=[CON, IMP, IMP])
    got = latest_special_cause(frame(rows).iloc[::-1])
    assert (got["variation"].iat[0], got["n_consecutive"].iat[0]) == ("improvement", 2)


def test_latest_special_cause_requires_spc_column() -> None:
    with pytest.raises(InputError, match="'spc_point_type'"):
        latest_special_cause(frame(series("A", [""])).drop(columns="spc_point_type"))


def test_expected_flags_property_against_simulation() -> None:
    # In-control z-scores: the share outside ±norm.ppf(0.999) is close to 0.002.
    rng = np.random.default_rng(5)
    z = rng.standard_normal(2_000_000)
    share = float(np.mean(np.abs(z) > stats.norm.ppf(0.999)))
    expected = expected_false_flags(2_000_000) / 2_000_000
    assert math.isclose(share, expected, rel_tol=0.05)


def test_docstring_examples_run() -> None:
    import doctest

    import iaf.stats.outliers

    assert doctest.testmod(iaf.stats.outliers).failed == 0
