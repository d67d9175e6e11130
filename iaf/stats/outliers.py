"""Outliers worth a conversation, and how many we would see by chance alone.

A funnel plot of 200 CCGs at 99.8% limits puts about 0.4 CCGs outside by chance for each
indicator; across the framework's 57 indicators that is about 23 chance flags every quarter.
These functions keep that arithmetic next to the flags so nobody mistakes noise for news:

* :func:`persistent_outliers` — areas outside the funnel limits in at least ``k`` of the
  indicator's last ``n`` periods, with the direction (all high / all low / mixed) and the chance
  of so many flags under independence;
* :func:`latest_special_cause` — area × indicator series whose latest SPC point is special
  cause (improvement or concern), with how many consecutive points share that type;
* :func:`expected_false_flags`, :func:`chance_of_at_least`, :func:`chance_of_persistence` and
  :func:`chance_note` — the expected number of chance flags and binomial tail probabilities.

The binomial arithmetic assumes independent tests with limits that hold exactly. Both are
optimistic: consecutive periods of a rolling 12-month indicator share most of their data, and
unadjusted limits on an overdispersed indicator flag far more than ``1 − level`` of areas
(Spiegelhalter 2005). The probabilities are therefore a floor on how surprising a flag is not,
and a guide to scale rather than a test.

References
----------
Spiegelhalter, D. J. (2005). Funnel plots for comparing institutional performance. Statistics in
    Medicine 24, 1185–1202. doi:10.1002/sim.1970 — section 6 on multiple comparisons: with
    99.8% limits about 1 in 500 in-control units falls outside by chance; the expected number
    of false flags is the number of tests × (1 − level).
Spiegelhalter, D. J. (2005). Handling over-dispersion of performance indicators. Quality and
    Safety in Health Care 14, 347–351. doi:10.1136/qshc.2005.013755.
NHS England and NHS Improvement (2019). *Making Data Count: Strengthening your decisions* —
    special cause variation (a point beyond the process limits, a run of 7 on one side of the
    mean, a trend of 7, two of three close to a limit) and its improvement / concern colouring.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from iaf.errors import InputError

__all__ = [
    "chance_note",
    "chance_of_at_least",
    "chance_of_persistence",
    "expected_false_flags",
    "latest_special_cause",
    "persistent_outliers",
]

# Named levels used across the app: the sig_95 / sig_998 and funnel columns.
LEVELS: dict[str, float] = {"95": 0.95, "998": 0.998}
FUNNEL_FLAGS = ("high", "low")
SPECIAL_CAUSE: dict[str, str] = {
    "special_cause_improvement": "improvement",
    "special_cause_concern": "concern",
}
NEUTRAL_PREFIX = "special_cause_neutral"  # "special_cause_neutral", "…_neutral_high", "…_low"


# --------------------------------------------------------------------------------------------
# chance arithmetic
# --------------------------------------------------------------------------------------------


def _probability(level: float | str) -> float:
    """A confidence level as a probability: 0.998, "998", "99.8" and 99.8 all mean 0.998."""
    if isinstance(level, str):
        text = level.strip().rstrip("%")
        if text in LEVELS:
            return LEVELS[text]
        try:
            level = float(text)
        except ValueError:
            raise InputError(
                f"level must be a confidence level such as 0.998, '998' or '95', got {level!r}."
            ) from None
    if isinstance(level, bool) or not isinstance(level, int | float | np.floating):
        raise InputError(f"level must be a number or a level name, got {type(level).__name__}.")
    level = float(level)
    # Percentages are accepted where they cannot be mistaken for a probability (99.8, 95, 80).
    if 50 <= level < 100:
        level = level / 100
    if not 0 < level < 1:
        raise InputError(
            f"level must be a probability between 0 and 1 or a percentage from 50 to 100, "
            f"got {level!r}."
        )
    return level


def level_text(level: float | str) -> str:
    """0.998 → "99.8%", "95" → "95%"."""
    return f"{round(_probability(level) * 100, 6):g}%"


def _count(name: str, value: int) -> int:
    if isinstance(value, bool) or not float(value).is_integer() or value < 0:
        raise InputError(f"{name} must be a whole number ≥ 0, got {value!r}.")
    return int(value)


def expected_false_flags(n_tests: int, level: float | str = 0.998) -> float:
    """How many of ``n_tests`` in-control results fall outside two-sided ``level`` limits by chance.

    ``n_tests × (1 − level)``: 57 indicators × 200 CCGs = 11,400 tests at 99.8% give 22.8 ("about
    23") flags from noise alone (Spiegelhalter 2005, section 6).
    """
    return _count("n_tests", n_tests) * (1 - _probability(level))


def chance_of_at_least(n_flags: int, n_tests: int, level: float | str = 0.998) -> float:
    """P(at least ``n_flags`` of ``n_tests`` independent in-control results fall outside by chance).

    The binomial upper tail ``binom.sf(n_flags − 1, n_tests, 1 − level)``.
    """
    n_flags = _count("n_flags", n_flags)
    n_tests = _count("n_tests", n_tests)
    if n_flags > n_tests:
        raise InputError(f"n_flags ({n_flags}) cannot exceed n_tests ({n_tests}).")
    return float(stats.binom.sf(n_flags - 1, n_tests, 1 - _probability(level)))


def chance_of_persistence(k: int, n: int, level: float | str = 0.998) -> float:
    """P(an in-control area falls outside the limits in at least ``k`` of ``n`` periods).

    Under independence between periods, ``binom.sf(k − 1, n, 1 − level)``: 3 of 4 at 99.8% is
    about 3.2 × 10⁻⁸. Overlapping (rolling) periods are not independent, so this understates it.
    """
    return chance_of_at_least(k, n, level)


def chance_note(n_tests: int, n_flags: int, level: float | str = 0.998) -> str:
    """One or two sentences setting the number of flags against the number expected by chance.

    >>> chance_note(11_400, 41)
    '23 of 11,400 tests would fall outside the 99.8% limits by chance alone; 41 did. Seeing 41 \
or more by chance alone has probability 0.00037.'
    """
    expected = expected_false_flags(n_tests, level)
    p = chance_of_at_least(n_flags, n_tests, level)
    # Below one, a rounded "0 of 200 would" would misread as "none could"; give the decimal.
    expected_text = f"{expected:,.0f}" if expected >= 0.95 else f"Fewer than 1 ({expected:.1g})"
    first = (
        f"{expected_text} of {n_tests:,} tests would fall outside the {level_text(level)} "
        f"limits by chance alone; {n_flags:,} did."
    )
    if n_flags == 0:
        return first
    return f"{first} Seeing {n_flags:,} or more by chance alone has probability {_p_text(p)}."


def _p_text(p: float) -> str:
    if p < 0.0001:
        return "less than 0.0001"
    if p > 0.99:
        return "more than 0.99"
    return f"{p:.2g}"


# --------------------------------------------------------------------------------------------
# validation
# --------------------------------------------------------------------------------------------


def _require(results: pd.DataFrame, cols: list[str], what: str) -> None:
    if not isinstance(results, pd.DataFrame):
        raise InputError(f"{what} needs a results DataFrame, got {type(results).__name__}.")
    missing = [c for c in cols if c not in results.columns]
    if missing:
        raise InputError(
            f"{what} needs column(s) {', '.join(map(repr, missing))}, which the results lack "
            f"(they have {', '.join(map(str, results.columns))})."
        )
    if not pd.api.types.is_datetime64_any_dtype(results["period_end"]):
        raise InputError(f"{what}: column 'period_end' must hold dates (datetime64).")
    dup = results.duplicated(["indicator", "area_code", "period_end"], keep=False).to_numpy()
    if dup.any():
        rows = results.loc[dup, ["indicator", "area_code", "period"]].head(5)
        labels = ", ".join(" ".join(map(str, r)) for r in rows.itertuples(index=False))
        raise InputError(
            f"{what}: {int(dup.sum())} rows repeat an indicator × area × period: {labels}."
        )


def _tested(results: pd.DataFrame) -> np.ndarray:
    """Rows with a published value (suppressed or missing values are not tested)."""
    ok = np.ones(len(results), dtype=bool)
    if "suppressed" in results:
        ok &= ~results["suppressed"].fillna(False).astype(bool).to_numpy()
    if "value" in results:
        ok &= results["value"].notna().to_numpy()
    return ok


# --------------------------------------------------------------------------------------------
# persistent funnel outliers
# --------------------------------------------------------------------------------------------


def persistent_outliers(
    results: pd.DataFrame, k: int = 3, n: int = 4, level: float | str = "998"
) -> pd.DataFrame:
    """Areas outside the funnel limits in at least ``k`` of the indicator's last ``n`` periods.

    The window is the indicator's last ``n`` periods across all areas, so a period an area
    lacks (suppressed, missing) counts as not flagged. At 99.8% the flags are the results'
    ``funnel_outlier`` column, as drawn on the funnel plot; at any other level they come from
    ``funnel_z`` (outside when ``|z| > norm.ppf(1 − (1 − level)/2)``).

    Returns one row per flagged area × indicator: indicator, area_code, n_periods (the window),
    n_tested (periods with a value), n_flagged, n_high, n_low, direction ("all high", "all low"
    or "mixed"), flagged_periods (labels, oldest first), latest_period, latest_flag ("high",
    "low" or ""), chance_p (probability of at least ``n_flagged`` flags in ``n_tested`` periods
    for an in-control area, independence assumed), confidence and method; most persistent
    first.

    References
    ----------
    Spiegelhalter (2005), doi:10.1002/sim.1970, on multiple testing with funnel plots.
    """
    what = "persistent_outliers"
    k, n = _count("k", k), _count("n", n)
    if not 1 <= k <= n:
        raise InputError(f"{what}: need 1 ≤ k ≤ n, got k = {k} and n = {n}.")
    p = _probability(level)
    use_column = np.isclose(p, LEVELS["998"]) and "funnel_outlier" in results
    flag_col = "funnel_outlier" if use_column else "funnel_z"
    _require(results, ["indicator", "area_code", "period", "period_end", flag_col], what)

    if use_column:
        flag = results["funnel_outlier"].fillna("").astype(str).str.strip().str.lower()
        bad = ~flag.isin(["", *FUNNEL_FLAGS]).to_numpy()
        if bad.any():
            rows = results.loc[bad, ["indicator", "area_code", "period", "funnel_outlier"]]
            labels = ", ".join(" ".join(map(str, r)) for r in rows.head(5).itertuples(index=False))
            raise InputError(
                f"{what}: column 'funnel_outlier' must be 'high', 'low' or empty; "
                f"{int(bad.sum())} rows are not: {labels}."
            )
        high = (flag == "high").to_numpy()
        low = (flag == "low").to_numpy()
    else:
        z = pd.to_numeric(results["funnel_z"], errors="coerce").to_numpy(dtype=float)
        critical = stats.norm.ppf(1 - (1 - p) / 2)
        high, low = z > critical, z < -critical
    tested = _tested(results)
    high = high & tested
    low = low & tested

    window = (
        results.groupby("indicator", observed=True)["period_end"].rank(
            method="dense", ascending=False
        )
        <= n
    ).to_numpy()
    frame = (
        pd.DataFrame(
            {
                "indicator": results["indicator"].astype(str).to_numpy(),
                "area_code": results["area_code"].astype(str).to_numpy(),
                "period": results["period"].astype(str).to_numpy(),
                "period_end": results["period_end"].to_numpy(),
                "tested": tested,
                "high": high,
                "low": low,
            }
        )
        .loc[window]
        .sort_values(["indicator", "area_code", "period_end"], kind="stable")
    )
    frame = frame.assign(
        flagged=frame["high"] | frame["low"],
        flag=np.select([frame["high"], frame["low"]], ["high", "low"], default=""),
    )
    keys = ["indicator", "area_code"]
    counts = frame.groupby(keys, sort=False).agg(
        n_tested=("tested", "sum"),
        n_flagged=("flagged", "sum"),
        n_high=("high", "sum"),
        n_low=("low", "sum"),
        latest_period=("period", "last"),
        latest_flag=("flag", "last"),
    )
    counts = counts.loc[counts["n_flagged"] >= k]
    flagged = frame.loc[frame["flagged"]]
    flagged = flagged.loc[flagged.set_index(keys).index.isin(counts.index)]
    periods = flagged.groupby(keys, sort=False)["period"].agg(", ".join)
    out = counts.join(periods.rename("flagged_periods")).reset_index()
    n_tested = out["n_tested"].to_numpy(dtype=int)
    n_flagged = out["n_flagged"].to_numpy(dtype=int)
    out = out.assign(
        n_periods=n,
        direction=np.select(
            [out["n_low"] == 0, out["n_high"] == 0], ["all high", "all low"], default="mixed"
        ),
        chance_p=stats.binom.sf(n_flagged - 1, n_tested, 1 - p),
        confidence=level_text(p),
        method=f"outside the funnel limits in at least {k} of the last {n} periods",
    )
    columns = [
        "indicator",
        "area_code",
        "n_periods",
        "n_tested",
        "n_flagged",
        "n_high",
        "n_low",
        "direction",
        "flagged_periods",
        "latest_period",
        "latest_flag",
        "chance_p",
        "confidence",
        "method",
    ]
    return (
        out[columns]
        .astype({"n_tested": int, "n_flagged": int, "n_high": int, "n_low": int})
        .sort_values(
            ["n_flagged", "chance_p", "indicator", "area_code"],
            ascending=[False, True, True, True],
            kind="stable",
            ignore_index=True,
        )
    )


# --------------------------------------------------------------------------------------------
# latest special cause
# --------------------------------------------------------------------------------------------


def latest_special_cause(results: pd.DataFrame, *, include_neutral: bool = False) -> pd.DataFrame:
    """Area × indicator series whose latest point is special cause improvement or concern.

    The latest point is the series' own last row (by ``period_end``). ``include_neutral`` adds
    special cause in indicators with no preferred direction.

    Returns one row per such series: indicator, area_code, period, period_end, value (when the
    results have it), spc_point_type, variation ("improvement", "concern" or "neutral"),
    n_consecutive (how many points up to and including the latest share its point type),
    n_points (points in the series) and is_latest_period (whether the series reaches its
    indicator's latest period; False means the flag is on stale data). Concerns first, then
    longer runs.

    References
    ----------
    NHS England, *Making Data Count* (2019): special cause variation and its colouring.
    """
    what = "latest_special_cause"
    _require(results, ["indicator", "area_code", "period", "period_end", "spc_point_type"], what)
    point_type = results["spc_point_type"].fillna("").astype(str).to_numpy()
    data = pd.DataFrame(
        {
            "indicator": results["indicator"].astype(str).to_numpy(),
            "area_code": results["area_code"].astype(str).to_numpy(),
            "period": results["period"].astype(str).to_numpy(),
            "period_end": results["period_end"].to_numpy(),
            "value": (
                pd.to_numeric(results["value"], errors="coerce").to_numpy(dtype=float)
                if "value" in results
                else np.nan
            ),
            "spc_point_type": point_type,
        }
    ).sort_values(["indicator", "area_code", "period_end"], kind="stable", ignore_index=True)

    series = data.groupby(["indicator", "area_code"], sort=False).ngroup().to_numpy()
    kind = data["spc_point_type"].to_numpy()
    # A run starts wherever the series or the point type changes.
    starts = np.ones(len(data), dtype=bool)
    starts[1:] = (series[1:] != series[:-1]) | (kind[1:] != kind[:-1])
    run = np.cumsum(starts)
    run_length = np.bincount(run)[run]
    last = np.ones(len(data), dtype=bool)
    last[:-1] = series[1:] != series[:-1]
    series_length = np.bincount(series)[series] if len(series) else np.zeros(0, dtype=int)
    indicator_latest = data.groupby("indicator", sort=False)["period_end"].transform("max")

    variation = pd.Series(kind).map(SPECIAL_CAUSE)
    if include_neutral:
        variation = variation.where(~pd.Series(kind).str.startswith(NEUTRAL_PREFIX), "neutral")
    out = data.assign(
        variation=variation.to_numpy(),
        n_consecutive=run_length,
        n_points=series_length,
        is_latest_period=(data["period_end"] == indicator_latest).to_numpy(),
    ).loc[last & variation.notna().to_numpy()]
    if "value" not in results:
        out = out.drop(columns="value")
    return in_report_order(out)


def in_report_order(changes: pd.DataFrame) -> pd.DataFrame:
    """Special-cause rows as the report lists them: concern, then improvement, then neutral;
    longest runs first within each; then by indicator and area."""
    order = changes["variation"].map({"concern": 0, "improvement": 1, "neutral": 2})
    return (
        changes.assign(_order=order)
        .sort_values(
            ["_order", "n_consecutive", "indicator", "area_code"],
            ascending=[True, False, True, True],
            kind="stable",
        )
        .drop(columns="_order")
        .reset_index(drop=True)
    )
