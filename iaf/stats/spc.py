"""XmR statistical process control charts as NHS England's "Making Data Count" draws them.

``xmr`` reproduces ``NHSRplotthedots::ptd_spc()`` 0.2.2 point for point, for many series at
once: every series (and every rebase group within it) is processed in one pass of numpy array
operations, with series of equal length stacked into a 2-D array so the run rules become
sliding-window sums along the time axis. ``xmr_summary`` gives one row per series × rebase
group with the variation and assurance icons.

Method, in the order the reference package applies it, per series × rebase group:

1. Centre line = mean of the first ``fix_after_n_points`` values (all values by default),
   computed exactly as R's ``mean()`` does (see ``_r_mean``): a float64 mean is one ulp off
   often enough to turn "on the mean" into "below the mean".
2. Moving ranges |x_t - x_{t-1}|; by default ranges ≥ 3.267·MR̄ are screened out and MR̄
   recomputed. Process limits = mean ± 2.66·MR̄; "close to limits" = beyond mean ± (2/3)·2.66·MR̄
   (2σ) but not beyond the limits (3σ).
3. Rules, one function each, precedence decided once in ``_special_cause_code``:
   outside the limits; a 7-point trend (a tie breaks it); 2 of 3 consecutive points close to
   the limits with all 3 on the same side of the mean; 7 consecutive points on one side of the
   mean (a point on the mean breaks it). A missing value breaks every run and is never flagged.
4. Polarity last: high/low becomes improvement/concern from ``improvement``, or neutral.

``rules="2023"`` is the November 2023 Making Data Count revision of the two-in-three rule, in
which points beyond the limits also count towards "2 of 3 beyond 2σ" (NHSRplotthedots 0.2.2,
like the 2019 guidance, counts only points strictly between 2σ and 3σ). Those points still take
the higher-precedence "outside limits" label; the difference is that the *other* points of the
three can now be flagged. The default is ``"2019"``, the reference package.

References
----------
NHS England and NHS Improvement (2019). *Making Data Count: Getting started* and *Strengthening
your decisions*. https://www.england.nhs.uk/publication/making-data-count/
NHS England (2023). *Making Data Count* SPC guidance and tools, updated November 2023.
NHS-R Community. NHSRplotthedots 0.2.2, ``ptd_spc()``, commit 050b07d7 (``R/ptd_spc_standard.R``,
``R/ptd_calculate_point_type.R``, ``R/ptd_add_short_group_warnings.R``,
``R/ptd_calculate_assurance_type.R``, ``R/ptd_add_rebase_column.R``).
Wheeler D.J. (2000). *Understanding Variation*, 2nd ed. SPC Press (XmR, d2 = 1.128, D4 = 3.267).
R Core Team. ``src/main/summary.c`` (``real_mean``: long double sum, then a correcting pass).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd

from iaf.errors import InputError

__all__ = [
    "ASSURANCE_TYPES",
    "IMPROVEMENT_DIRECTIONS",
    "POINT_TYPES",
    "RULE_SETS",
    "SPC_LABELS",
    "p_prime",
    "xmr",
    "xmr_summary",
]

# Constants hard-coded by NHSRplotthedots (R/ptd_spc_standard.R), kept to the digit to match it.
# 2.66 = 3 / d2 with d2 = 1.128 (the bias constant of a moving range of 2), rounded as MDC does.
LIMIT_SIGMAS = 2.66
# (2/3)·2.66: the 2σ line; "close to limits" lies beyond it but inside the 3σ limits.
CLOSE_SIGMAS = 2 * (LIMIT_SIGMAS / 3)
# D4 for ranges of 2 points: moving ranges at or above 3.267·MR̄ are screened out of MR̄.
MR_SCREEN = 3.267
TREND_POINTS = 7  # a run of 7 strictly rising or falling points
RUN_POINTS = 7  # 7 points on one side of the mean
TWO_IN_THREE = (2, 3)
# ptd_add_short_group_warnings(warning_threshold = 13): groups of ≤ 12 points have "trial limits".
SHORT_GROUP_THRESHOLD = 13

IMPROVEMENT_DIRECTIONS = {"increase": 1, "neutral": 0, "decrease": -1}
RULE_SETS = ("2019", "2023")

COMMON_CAUSE = "Common Cause"
# special_cause_type labels (NHSRplotthedots spelling), as (high, low) pairs in rule precedence.
_RULE_LABELS = (
    ("Above UCL", "Below LCL"),
    ("7 Point Trend (Increasing)", "7 Point Trend (Decreasing)"),
    ("2 in 3 Above CL", "2 in 3 Below CL"),
    ("7 Points Above CL", "7 Points Below CL"),
)
SPC_LABELS: tuple[str, ...] = (COMMON_CAUSE, *(label for pair in _RULE_LABELS for label in pair))

# point_type values; they are also the variation icon names (variation_type_last_point).
POINT_TYPES: tuple[str, ...] = (
    "common_cause",
    "special_cause_improvement",
    "special_cause_concern",
    "special_cause_neutral_high",
    "special_cause_neutral_low",
)
ASSURANCE_TYPES: tuple[str, ...] = ("consistent_pass", "consistent_fail", "inconsistent")

_OUTPUT_COLUMNS = [
    "series",
    "period",
    "value",
    "rebase_group",
    "mean",
    "lpl",
    "upl",
    "outside_limits",
    "relative_to_mean",
    "close_to_limits",
    "special_cause_type",
    "special_cause_flag",
    "point_type",
    "short_group_warning",
    "target",
    "improvement",
    "rules",
]


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------


def xmr(
    frame: pd.DataFrame,
    *,
    series: str = "series",
    period: str = "period",
    value: str = "value",
    improvement: Literal["increase", "decrease", "neutral"] = "increase",
    rebase: Sequence[Any] | Mapping[Any, Sequence[Any]] | None = None,
    fix_after_n_points: int | None = None,
    target: float | Mapping[Any, float] | None = None,
    screen_outliers: bool = True,
    rules: Literal["2019", "2023"] = "2019",
) -> pd.DataFrame:
    """XmR chart points for every series in ``frame`` (NHSRplotthedots 0.2.2 ``ptd_spc``).

    Parameters
    ----------
    frame
        Long data: one row per series × period. Missing values are kept (they get no flag and
        break runs, as in NHSRplotthedots).
    series, period, value
        Column names. Periods must sort in time order (dates or sortable period keys).
    improvement
        ``"increase"``, ``"decrease"`` or ``"neutral"``.
    rebase
        Periods at which a new group (new mean and limits) starts: one list for all series, or a
        mapping series → list.
    fix_after_n_points
        Compute the mean and limits from the first n points of each group only.
    target
        One target for all series, or a mapping series → target (feeds the assurance icon).
    screen_outliers
        Screen moving ranges ≥ 3.267·MR̄ out before computing the limits (default, as MDC).
    rules
        ``"2019"`` (NHSRplotthedots 0.2.2, default) or ``"2023"``, where points beyond the
        limits also count towards two-in-three.

    Returns
    -------
    pandas.DataFrame
        One row per point, sorted by series and period, with columns ``series, period, value,
        rebase_group, mean, lpl, upl, outside_limits, relative_to_mean, close_to_limits,
        special_cause_type, special_cause_flag, point_type, short_group_warning, target,
        improvement, rules``. ``outside_limits`` and ``close_to_limits`` are nullable booleans
        (missing where the value or the limits are missing).

    References
    ----------
    NHS England "Making Data Count" (2019; two-in-three revised 2023); NHSRplotthedots 0.2.2.
    """
    _validate_options(improvement, rules, fix_after_n_points, screen_outliers)
    data, series_codes, series_uniques = _validated_frame(frame, series, period, value)

    is_rebase = _rebase_flags(data, rebase)
    new_series = np.diff(series_codes, prepend=-1) != 0
    # rebase_group = running count of rebase periods within each series (cumsum(rebase) in R)
    running = np.cumsum(is_rebase)
    series_starts = np.flatnonzero(new_series)
    before = (running - is_rebase)[series_starts]
    rebase_group = running - np.repeat(before, np.diff(np.r_[series_starts, len(data)]))
    starts = np.flatnonzero(new_series | is_rebase)
    lengths = np.diff(np.r_[starts, len(data)])

    y = data["value"].to_numpy(dtype=np.float64, na_value=np.nan)
    cols = _xmr_runs(
        y,
        starts,
        lengths,
        improvement,
        fix_after_n_points=fix_after_n_points,
        screen_outliers=screen_outliers,
        rules=rules,
    )
    type_code, point_code = cols.pop("type_code"), cols.pop("point_code")
    n = len(data)
    return pd.DataFrame(
        {
            "series": data["series"],
            "period": data["period"],
            "value": y.copy(),  # the output must not share memory with the caller's frame
            "rebase_group": rebase_group,
            "mean": cols["mean"],
            "lpl": cols["lpl"],
            "upl": cols["upl"],
            "outside_limits": pd.arrays.BooleanArray(cols["outside"], cols["missing"]),
            "relative_to_mean": cols["rtm"],
            "close_to_limits": pd.arrays.BooleanArray(cols["close"], cols["missing"]),
            "special_cause_type": pd.Categorical.from_codes(type_code, categories=SPC_LABELS),
            "special_cause_flag": type_code != 0,
            "point_type": pd.Categorical.from_codes(point_code, categories=POINT_TYPES),
            "short_group_warning": np.repeat(lengths < SHORT_GROUP_THRESHOLD, lengths),
            "target": _target_column(series_codes, series_uniques, target),
            "improvement": _constant_category(improvement, list(IMPROVEMENT_DIRECTIONS), n),
            "rules": _constant_category(rules, list(RULE_SETS), n),
        },
        columns=_OUTPUT_COLUMNS,
        copy=False,  # every column is freshly computed; stacking them would copy 7 × n floats
    )


def _xmr_runs(
    y: np.ndarray,
    starts: np.ndarray,
    lengths: np.ndarray,
    improvement: str,
    *,
    fix_after_n_points: int | None,
    screen_outliers: bool,
    rules: str,
    columns: Collection[str] | None = None,
) -> dict[str, np.ndarray]:
    """xmr's per-point arrays (``_compute_segments``' and ``point_code``, into POINT_TYPES) for
    checked values laid out as runs, one per series × rebase group in period order, starting
    at ``starts``. ``xmr`` works through here; so does a caller that holds its series as runs
    already (the whole-dataset analysis), without a frame going in or twenty columns coming out,
    and which may name the ``columns`` it reads of ``_compute_segments``' (``type_code`` comes
    anyway).
    """
    cols = _compute_segments(
        y,
        starts,
        lengths,
        fix_after_n_points=fix_after_n_points,
        screen_outliers=screen_outliers,
        rules=rules,
        columns=columns,
    )
    cols["point_code"] = _point_type_code(cols["type_code"], IMPROVEMENT_DIRECTIONS[improvement])
    return cols


def _summary_runs(points: pd.DataFrame) -> pd.DataFrame | None:
    """xmr_summary for points laid out as xmr returns them (each series × rebase group one run of
    rows), by reductions over the runs instead of a groupby; None for any other layout."""
    if not isinstance(points["point_type"].dtype, pd.CategoricalDtype) or len(points) == 0:
        return None
    group = points["rebase_group"].to_numpy()
    starts = _run_starts(points["series"])
    starts[1:] |= group[1:] != group[:-1]
    heads = np.flatnonzero(starts)
    series_codes = pd.factorize(points["series"].iloc[heads])[0]
    pairs = series_codes.astype(np.int64) * (int(group.max()) + 1) + group[heads]
    if len(np.unique(pairs)) != len(heads):
        return None  # a group split across runs: leave it to groupby
    n_rows = len(points)
    row = np.arange(n_rows)

    def first_valid(values: np.ndarray) -> np.ndarray:
        # groupby "first"/"last" skip missing values
        at = np.minimum.reduceat(np.where(np.isnan(values), n_rows, row), heads)
        return np.where(at < n_rows, values[np.minimum(at, n_rows - 1)], np.nan)

    def last_valid(missing: np.ndarray) -> np.ndarray:
        return np.maximum.reduceat(np.where(missing, -1, row), heads)  # -1: none in the run

    point_code = points["point_type"].cat.codes.to_numpy()
    kinds = list(points["point_type"].cat.categories)
    improvement = point_code == kinds.index("special_cause_improvement")
    concern = point_code == kinds.index("special_cause_concern")
    special = points["special_cause_flag"].to_numpy(dtype=np.int64)
    count = np.diff(np.r_[heads, n_rows])
    last_type = last_valid(point_code < 0)
    variation = np.asarray(kinds, dtype=object)[point_code[np.maximum(last_type, 0)]]
    variation[last_type < 0] = None
    target = points["target"].to_numpy(dtype=np.float64)
    last_target = last_valid(np.isnan(target))
    target_last = np.where(last_target >= 0, target[np.maximum(last_target, 0)], np.nan)
    mean, lpl, upl = (
        first_valid(points[c].to_numpy(dtype=np.float64)) for c in ("mean", "lpl", "upl")
    )
    improvement_name = points["improvement"].iloc[heads].astype(str).to_numpy()
    direction = pd.Series(improvement_name).map(IMPROVEMENT_DIRECTIONS).to_numpy()
    last_group = np.r_[series_codes[1:] != series_codes[:-1], True]
    has_targets = not np.isnan(target).all()
    assurance = _assurance_type(target_last, lpl, upl, direction)
    assurance = np.where(last_group & has_targets & (direction != 0), assurance, None)
    return pd.DataFrame(
        {
            "series": points["series"].iloc[heads].reset_index(drop=True),
            "rebase_group": group[heads],
            "mean": mean,
            "lpl": lpl,
            "upl": upl,
            "n": count,
            "common_cause": count - np.add.reduceat(special, heads),
            "special_cause_improvement": np.add.reduceat(improvement.astype(np.int64), heads),
            "special_cause_concern": np.add.reduceat(concern.astype(np.int64), heads),
            "variation_type_last_point": pd.array(variation, dtype="str"),
            "assurance_type": pd.array(assurance, dtype="str"),
        }
    )


def xmr_summary(points: pd.DataFrame) -> pd.DataFrame:
    """One row per series × rebase group of an ``xmr`` result, with the MDC icons.

    Columns: ``series, rebase_group, mean, lpl, upl, n, common_cause,
    special_cause_improvement, special_cause_concern, variation_type_last_point,
    assurance_type``. The variation icon is the point type of the group's last period. The
    assurance icon (``summary.ptd_spc_df`` / ``ptd_calculate_assurance_type``) compares the
    series' last target with its last limits and is given on the series' last rebase group only;
    it is missing when no series has a target or the direction is neutral. As in NHSRplotthedots,
    once any target is set a series without one is "inconsistent".
    """
    missing = [c for c in _OUTPUT_COLUMNS if c not in points.columns]
    if missing:
        raise InputError(
            f"xmr_summary needs the frame returned by xmr(); columns {missing} are missing."
        )
    fast = _summary_runs(points)
    if fast is not None:
        return fast
    keys = ["series", "rebase_group"]
    point_type = points["point_type"].astype(str)
    grouped = points.assign(
        special_cause_improvement=point_type == "special_cause_improvement",
        special_cause_concern=point_type == "special_cause_concern",
        variation_type_last_point=point_type,
    ).groupby(keys, sort=False, observed=True)
    summary = grouped.agg(
        mean=("mean", "first"),
        lpl=("lpl", "first"),
        upl=("upl", "first"),
        n=("value", "size"),
        special=("special_cause_flag", "sum"),
        special_cause_improvement=("special_cause_improvement", "sum"),
        special_cause_concern=("special_cause_concern", "sum"),
        variation_type_last_point=("variation_type_last_point", "last"),
        target=("target", "last"),
        improvement=("improvement", "first"),
    ).reset_index()
    summary = summary.assign(common_cause=summary["n"] - summary["special"])

    last_group = ~summary["series"].duplicated(keep="last").to_numpy()
    direction = summary["improvement"].astype(str).map(IMPROVEMENT_DIRECTIONS).to_numpy()
    has_targets = points["target"].notna().any()
    assurance = _assurance_type(
        summary["target"].to_numpy(float),
        summary["lpl"].to_numpy(float),
        summary["upl"].to_numpy(float),
        direction,
    )
    assurance = np.where(last_group & has_targets & (direction != 0), assurance, None)
    return summary.assign(assurance_type=pd.array(assurance, dtype="str"))[
        [
            "series",
            "rebase_group",
            "mean",
            "lpl",
            "upl",
            "n",
            "common_cause",
            "special_cause_improvement",
            "special_cause_concern",
            "variation_type_last_point",
            "assurance_type",
        ]
    ]


# --------------------------------------------------------------------------------------------
# Boundary validation
# --------------------------------------------------------------------------------------------


def _validate_options(improvement: str, rules: str, fix_after_n_points: Any, screen: Any) -> None:
    if improvement not in IMPROVEMENT_DIRECTIONS:
        raise InputError(
            f"improvement must be one of {sorted(IMPROVEMENT_DIRECTIONS)}, not {improvement!r}."
        )
    if rules not in RULE_SETS:
        raise InputError(f"rules must be one of {list(RULE_SETS)}, not {rules!r}.")
    if fix_after_n_points is not None and (
        isinstance(fix_after_n_points, bool)
        or not isinstance(fix_after_n_points, int | np.integer)
        or fix_after_n_points < 2
    ):
        raise InputError(
            f"fix_after_n_points must be a whole number of at least 2, not {fix_after_n_points!r}."
        )
    if not isinstance(screen, bool | np.bool_):
        raise InputError(f"screen_outliers must be True or False, not {screen!r}.")


def _period_text(period: object) -> str:
    """A period as its reader wrote it: a date without the midnight a Timestamp prints."""
    if isinstance(period, pd.Timestamp) and period == period.normalize():
        return period.strftime("%Y-%m-%d")
    return str(period)


def _describe_rows(data: pd.DataFrame, mask: np.ndarray, limit: int = 5) -> str:
    rows = data.loc[mask, ["series", "period"]].head(limit)
    listed = ", ".join(f"{s} {_period_text(p)}" for s, p in rows.itertuples(index=False))
    more = "" if mask.sum() <= limit else ", ..."
    return f"{int(mask.sum())} rows: {listed}{more}"


def _constant_category(value: str, categories: list[str], n: int) -> pd.Categorical:
    return pd.Categorical.from_codes(np.full(n, categories.index(value), np.int8), categories)


def _run_starts(column: pd.Series) -> np.ndarray:
    """True where a row's value differs from the row before."""
    starts = np.ones(len(column), dtype=bool)
    if len(column) > 1:
        values = column.cat.codes if isinstance(column.dtype, pd.CategoricalDtype) else column
        same = values.array[1:] == values.array[:-1]
        if isinstance(same, pd.api.extensions.ExtensionArray):
            same = same.to_numpy(dtype=bool, na_value=False)
        starts[1:] = ~np.asarray(same, dtype=bool)
    return starts


def _codes_if_sorted(series: pd.Series, period: pd.Series) -> tuple[np.ndarray, Any] | None:
    """Series codes and sorted names when rows already run by series then rising period, else
    None. The check costs two adjacent-row comparisons, and the series are factorized at run
    starts only: sorted data (the usual case) never hashes or sorts every row's key."""
    starts = _run_starts(series)
    heads = np.flatnonzero(starts)
    codes, uniques = pd.factorize(series.iloc[heads], sort=True)
    if len(codes) > 1 and not (np.diff(codes) > 0).all():
        return None
    if len(period) > 1:
        try:
            later = period.array[1:] > period.array[:-1]
        except TypeError:
            return None  # the general path explains unsortable periods
        if isinstance(later, pd.api.extensions.ExtensionArray):
            later = later.to_numpy(dtype=bool, na_value=False)
        if not (np.asarray(later, dtype=bool) | starts[1:]).all():
            return None
    return np.repeat(codes, np.diff(np.r_[heads, len(series)])), uniques


def _validated_frame(
    frame: pd.DataFrame, series: str, period: str, value: str
) -> tuple[pd.DataFrame, np.ndarray, pd.Index]:
    """Checked data sorted by series and period, with the series codes and sorted series names."""
    if not isinstance(frame, pd.DataFrame):
        raise InputError(f"xmr needs a pandas DataFrame, not {type(frame).__name__}.")
    absent = [c for c in (series, period, value) if c not in frame.columns]
    if absent:
        raise InputError(f"columns {absent} are not in the frame (it has {list(frame.columns)}).")
    data = pd.DataFrame(
        {
            "series": frame[series].reset_index(drop=True),
            "period": frame[period].reset_index(drop=True),
            "value": frame[value].reset_index(drop=True),
        }
    )

    for column, name in (("series", series), ("period", period)):
        bad = data[column].isna().to_numpy()
        if bad.any():
            raise InputError(f"column '{name}' is missing in {int(bad.sum())} rows.")

    raw = data["value"]
    if pd.api.types.is_bool_dtype(raw) or not (
        pd.api.types.is_numeric_dtype(raw) or raw.dtype == object
    ):
        raise InputError(f"column '{value}' must be numeric (it is {raw.dtype}).")
    numeric = pd.to_numeric(raw, errors="coerce").astype("float64")
    bad = (numeric.isna() & raw.notna()).to_numpy()
    if bad.any():
        raise InputError(f"column '{value}' has non-numeric values in {_describe_rows(data, bad)}.")
    bad = np.isinf(numeric.to_numpy())
    if bad.any():
        raise InputError(f"column '{value}' has infinite values in {_describe_rows(data, bad)}.")
    data = data.assign(value=numeric)

    already = _codes_if_sorted(data["series"], data["period"])
    if already is not None:  # sorted by series then strictly by period: no sort, no duplicates
        series_codes, series_uniques = already
        return data, series_codes, pd.Index(series_uniques)

    # sort on integer codes: far cheaper than sorting strings, and adjacent rows reveal duplicates
    series_codes, series_uniques = pd.factorize(data["series"], sort=True)
    try:
        period_codes, _ = pd.factorize(data["period"], sort=True)
    except TypeError as exc:
        raise InputError(f"column '{period}' must hold sortable periods ({exc}).") from None
    order = np.lexsort((period_codes, series_codes))
    data = data.take(order).reset_index(drop=True)
    series_codes, period_codes = series_codes[order], period_codes[order]
    same = (series_codes[1:] == series_codes[:-1]) & (period_codes[1:] == period_codes[:-1])
    dup = np.r_[False, same] | np.r_[same, False]
    if dup.any():
        raise InputError(
            f"each ({series}, {period}) must appear once; "
            f"duplicated in {_describe_rows(data, dup)}."
        )
    return data, series_codes, pd.Index(series_uniques)


def _as_period_values(values: Sequence[Any], periods: pd.Series) -> pd.Index:
    index = pd.Index(list(values))
    if pd.api.types.is_datetime64_any_dtype(periods.dtype):
        return pd.DatetimeIndex(pd.to_datetime(index)).as_unit(periods.dt.unit)
    return index


def _rebase_flags(data: pd.DataFrame, rebase: Any) -> np.ndarray:
    """True where a new rebase group starts (ptd_add_rebase_column)."""
    if rebase is None:
        return np.zeros(len(data), dtype=bool)
    if isinstance(rebase, Mapping):
        unknown = set(rebase) - set(data["series"].unique())
        if unknown:
            raise InputError(
                f"rebase names series that are not in the data: {sorted(map(str, unknown))}."
            )
        pairs = pd.MultiIndex.from_tuples(
            [
                (s, p)
                for s, periods in rebase.items()
                for p in _as_period_values(periods, data["period"])
            ]
        )
        return pd.MultiIndex.from_frame(data[["series", "period"]]).isin(pairs)
    if isinstance(rebase, str) or not isinstance(
        rebase, Sequence | np.ndarray | pd.Index | pd.Series
    ):
        rebase = [rebase]
    return data["period"].isin(_as_period_values(rebase, data["period"])).to_numpy()


def _target_column(codes: np.ndarray, known: pd.Index, target: Any) -> np.ndarray:
    if target is None:
        return np.full(len(codes), np.nan)
    if isinstance(target, Mapping):
        unknown = set(target) - set(known)
        if unknown:
            raise InputError(
                f"target names series that are not in the data: {sorted(map(str, unknown))}."
            )
        try:
            mapping = {k: float(v) for k, v in target.items()}
        except (TypeError, ValueError) as exc:
            raise InputError(f"every target must be a number ({exc}).") from None
        per_series = known.map(lambda name: mapping.get(name, np.nan)).to_numpy(dtype=np.float64)
        return per_series[codes]
    try:
        return np.full(len(codes), float(target))
    except (TypeError, ValueError):
        raise InputError(
            f"target must be a number or a mapping series → number, not {target!r}."
        ) from None


# --------------------------------------------------------------------------------------------
# Limits (ptd_spc_standard)
# --------------------------------------------------------------------------------------------


def _r_mean(xt: np.ndarray) -> np.ndarray:
    """Column means of a (points × groups) array as R's ``mean(x, na.rm = TRUE)``: NaN-free sum
    in long double, taken sequentially, divided by n, then corrected by the mean of the
    residuals (R summary.c ``real_mean``). Columns with no values give NaN.
    """
    absent = np.isnan(xt)
    n = len(xt) - absent.sum(axis=0)
    xl = np.where(absent, 0.0, xt).astype(np.longdouble)
    # one whole row added at a time keeps R's sequential order in every column; numpy's own
    # sums may go pairwise (along a single column, for one) and differ in the last bits
    s = np.zeros(xt.shape[1], dtype=np.longdouble)
    for row in xl:
        s += row
    with np.errstate(invalid="ignore", divide="ignore"):
        s /= n
        xl -= s
        np.copyto(xl, 0.0, where=absent)
        t = np.zeros_like(s)
        for row in xl:
            t += row
        return np.where(np.isfinite(s), s + t / n, s).astype(np.float64)


def _limits(
    yt: np.ndarray, fix_after_n_points: int | None, screen_outliers: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Centre line and mean moving range for each column (one group per column)."""
    fixed = yt if fix_after_n_points is None else yt[:fix_after_n_points]
    mean = _r_mean(fixed)
    mr = np.abs(np.diff(fixed, axis=0))
    amr = _r_mean(mr)
    if screen_outliers:
        with np.errstate(invalid="ignore"):
            kept = mr < MR_SCREEN * amr
        # only groups that lose a range need their mean range again (the rest keep every range
        # and so the same mean): that is the long-double pass over a fraction of the groups
        screened = (~kept & ~np.isnan(mr)).any(axis=0)
        if screened.any():
            amr[screened] = _r_mean(np.where(kept, mr, np.nan)[:, screened])
    return mean, amr


# --------------------------------------------------------------------------------------------
# Sliding windows along axis 0 (time) of a (points × groups) array: each step is one whole-row
# operation over every group, which for short series beats a cumsum along each group's row
# --------------------------------------------------------------------------------------------


def _window_all(b: np.ndarray, w: int) -> np.ndarray:
    """True at each point that ends w consecutive True points."""
    out = np.zeros_like(b)
    length = len(b)
    if length >= w:
        acc = out[w - 1 :]
        acc[...] = b[w - 1 :]
        for lag in range(1, w):
            acc &= b[w - 1 - lag : length - lag]
    return out


def _window_count(b: np.ndarray, w: int) -> np.ndarray:
    """Count of True among the w points ending at each point; 0 where fewer than w precede it."""
    out = np.zeros(b.shape, dtype=np.int8 if w < 128 else np.int64)
    length = len(b)
    if length >= w:
        acc = out[w - 1 :]
        for lag in range(w):
            acc += b[w - 1 - lag : length - lag]
    return out


def _part_of(ends: np.ndarray, w: int) -> np.ndarray:
    """Points belonging to any w-point window whose last point is marked in ``ends``."""
    out = ends.copy()
    for lag in range(1, min(w, len(ends))):
        out[:-lag] |= ends[lag:]
    return out


# --------------------------------------------------------------------------------------------
# Rules: one function each, returning "this point is part of a signal". Each takes and returns
# (groups × points) arrays; the _t versions do the work on (points × groups) arrays.
# --------------------------------------------------------------------------------------------


def rule_outside_limits(outside: np.ndarray) -> np.ndarray:
    """A point above the upper or below the lower process limit."""
    return outside


def rule_trend(y: np.ndarray, n: int = TREND_POINTS) -> np.ndarray:
    """Part of n consecutive points each strictly above (or below) the one before; a tie or a
    missing value breaks the trend (ptd_seven_point_trend / ptd_part_of_seven_trend)."""
    return _rule_trend_t(np.ascontiguousarray(y.T), n).T


def _rule_trend_t(yt: np.ndarray, n: int = TREND_POINTS) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        step = np.sign(np.diff(yt, axis=0))
    ends = np.zeros(yt.shape, dtype=bool)
    ends[1:] = _window_all(step == 1, n - 1) | _window_all(step == -1, n - 1)
    return _part_of(ends, n)


def rule_two_in_three(
    beyond_2sigma: np.ndarray, side: np.ndarray, k: int = TWO_IN_THREE[0], w: int = TWO_IN_THREE[1]
) -> np.ndarray:
    """A point beyond 2σ that is one of k of w consecutive points beyond 2σ, all w on the same
    side of the mean (ptd_two_in_three / ptd_part_of_two_in_three, fixed for issue #143)."""
    return _rule_two_in_three_t(
        np.ascontiguousarray(beyond_2sigma.T), np.ascontiguousarray(side.T), k, w
    ).T


def _rule_two_in_three_t(
    beyond_2sigma: np.ndarray, side: np.ndarray, k: int = TWO_IN_THREE[0], w: int = TWO_IN_THREE[1]
) -> np.ndarray:
    same_side = _window_all(side == 1, w) | _window_all(side == -1, w)
    ends = (_window_count(beyond_2sigma, w) >= k) & same_side
    return _part_of(ends, w) & beyond_2sigma


def rule_run(side: np.ndarray, n: int = RUN_POINTS) -> np.ndarray:
    """Part of n consecutive points on the same side of the mean; a point on the mean (side 0)
    or a missing value breaks the run (ptd_seven_point_one_side_mean)."""
    return _rule_run_t(np.ascontiguousarray(side.T), n).T


def _rule_run_t(side: np.ndarray, n: int = RUN_POINTS) -> np.ndarray:
    return _part_of(_window_all(side == 1, n) | _window_all(side == -1, n), n)


def _trend_direction(y: np.ndarray, trend: np.ndarray) -> np.ndarray:
    """Direction of the trend a point belongs to: the step to the next point when that point is in
    a trend too, else the step from the previous point (as ptd_special_cause_type)."""
    return _trend_direction_t(np.ascontiguousarray(y.T), np.ascontiguousarray(trend.T)).T


def _trend_direction_t(yt: np.ndarray, trend: np.ndarray) -> np.ndarray:
    out = np.zeros(yt.shape)
    with np.errstate(invalid="ignore"):
        np.sign(np.diff(yt, axis=0), out=out[1:])  # the step from the previous point
    # the step to the next point, where both points are in a trend
    np.copyto(out[:-1], out[1:].copy(), where=trend[:-1] & trend[1:])
    return out


def _special_cause_code(
    outside: np.ndarray,
    trend: np.ndarray,
    two_in_three: np.ndarray,
    run: np.ndarray,
    side: np.ndarray,
    trend_direction: np.ndarray,
) -> np.ndarray:
    """Index into SPC_LABELS. Precedence lives here and only here: outside limits, trend,
    two-in-three, run. The label's high/low comes from the side of the mean, or for a trend from
    its direction."""
    # rule 1..4 in precedence order, 0 none: the lower-precedence rules are written first
    # and overwritten (int8 throughout: these arrays hold every point of every series)
    rule = run.astype(np.int8) * np.int8(4)
    rule[two_in_three] = 3
    rule[trend] = 2
    rule[outside] = 1
    low = np.where(rule == 2, trend_direction != 1, side != 1)
    code = 2 * rule - 1 + low.view(np.int8)
    code[rule == 0] = 0
    return code


# Codes into SPC_LABELS: 0 is common cause, odd codes are high / increasing, even low / decreasing.
def _point_type_code(type_code: np.ndarray, direction: int) -> np.ndarray:
    """Polarity, applied last: index into POINT_TYPES (looked up per SPC_LABELS code)."""
    return _point_type_table(direction).take(type_code)  # take: twice as fast as indexing


def _point_type_table(direction: int) -> np.ndarray:
    type_code = np.arange(len(SPC_LABELS), dtype=np.int8)
    high = (type_code % 2) == 1
    improvement, concern, neutral_high, neutral_low = (
        POINT_TYPES.index(name)
        for name in (
            "special_cause_improvement",
            "special_cause_concern",
            "special_cause_neutral_high",
            "special_cause_neutral_low",
        )
    )
    if direction == 0:
        special = np.where(high, neutral_high, neutral_low)
    else:
        special = np.where(high == (direction == 1), improvement, concern)
    return np.where(type_code == 0, 0, special).astype(np.int8)


# --------------------------------------------------------------------------------------------
# Driver: groups of equal length stacked as (points × groups) arrays
# --------------------------------------------------------------------------------------------


def _compute_segments(
    y: np.ndarray,
    starts: np.ndarray,
    lengths: np.ndarray,
    *,
    fix_after_n_points: int | None,
    screen_outliers: bool,
    rules: str,
    fast: bool = True,
    columns: Collection[str] | None = None,
) -> dict[str, np.ndarray]:
    """Per-point columns; groups of one length are stacked into one (points × groups) block.
    ``columns`` (``type_code`` comes anyway) limits those a full panel hands back."""
    options = (fix_after_n_points, screen_outliers, rules)
    if fast and len(lengths) and (lengths == lengths[0]).all():
        # every group has the same length (the usual full panel): the block is y reshaped and
        # transposed, and the per-point columns wanted transpose back
        length = int(lengths[0])
        res = _segment_block(np.ascontiguousarray(y.reshape(-1, length).T), *options)
        return {
            key: np.repeat(values, length) if values.ndim == 1 else values.T.reshape(-1)
            for key, values in res.items()
            if columns is None or key in columns or key == "type_code"
        }
    n = len(y)
    out = {
        "mean": np.full(n, np.nan),
        "lpl": np.full(n, np.nan),
        "upl": np.full(n, np.nan),
        "outside": np.zeros(n, dtype=bool),
        "close": np.zeros(n, dtype=bool),
        "missing": np.ones(n, dtype=bool),
        "rtm": np.full(n, np.nan),
        "type_code": np.zeros(n, dtype=np.int8),
    }
    for length in np.unique(lengths):
        idx = np.arange(length)[:, None] + starts[lengths == length]
        res = _segment_block(y[idx], *options)
        for key, values in res.items():
            out[key][idx] = values
    return out


def _segment_block(
    yt: np.ndarray, fix_after_n_points: int | None, screen_outliers: bool, rules: str
) -> dict[str, np.ndarray]:
    """All columns for a (points × groups) block of equal-length groups."""
    mean, amr = _limits(yt, fix_after_n_points, screen_outliers)
    lpl, upl = mean - LIMIT_SIGMAS * amr, mean + LIMIT_SIGMAS * amr
    nlpl, nupl = mean - CLOSE_SIGMAS * amr, mean + CLOSE_SIGMAS * amr
    missing = np.isnan(yt) | np.isnan(lpl)
    with np.errstate(invalid="ignore"):
        outside = (yt > upl) | (yt < lpl)
        close = ~outside & ((yt < nlpl) | (yt > nupl)) & ~missing
        rtm = np.sign(yt - mean)
    side = np.where(np.isnan(rtm), 0.0, rtm)  # rtm is a sign: no infinities to clip

    beyond_2sigma = close | outside if rules == "2023" else close
    trend = _rule_trend_t(yt)
    code = _special_cause_code(
        rule_outside_limits(outside),
        trend,
        _rule_two_in_three_t(beyond_2sigma, side),
        _rule_run_t(side),
        side,
        _trend_direction_t(yt, trend),
    )
    return {
        "mean": mean,
        "lpl": lpl,
        "upl": upl,
        "outside": outside,
        "close": close,
        "missing": missing,
        "rtm": rtm,
        "type_code": code,
    }


def _assurance_type(
    target: np.ndarray, lpl: np.ndarray, upl: np.ndarray, direction: np.ndarray
) -> np.ndarray:
    """ptd_calculate_assurance_type: a target beyond the limits is always (or never) met."""
    increasing = direction == 1
    with np.errstate(invalid="ignore"):
        above, below = target > upl, target < lpl
    return np.select(
        [above, below],
        [
            np.where(increasing, "consistent_fail", "consistent_pass"),
            np.where(increasing, "consistent_pass", "consistent_fail"),
        ],
        default="inconsistent",
    ).astype(object)


# --------------------------------------------------------------------------------------------
# Laney P′ chart
# --------------------------------------------------------------------------------------------

D2 = 1.128  # d2 for moving ranges of 2 points (Laney 2002 uses 1.128 for the mR of z-scores)


def p_prime(
    frame: pd.DataFrame,
    series: str = "series",
    period: str = "period",
    numerator: str = "numerator",
    denominator: str = "denominator",
    *,
    sigmas: float = 3.0,
) -> pd.DataFrame:
    """Laney P′ chart for proportions with large denominators, for many series at once.

    Per series: p̄ = Σx / Σn; σ_p,i = √(p̄(1 − p̄)/n_i); z_i = (p_i − p̄)/σ_p,i;
    σ_z = mean |z_i − z_{i−1}| / d2 (d2 = 1.128); limits p̄ ± sigmas·σ_p,i·σ_z. σ_z > 1 widens
    the binomial limits for between-period overdispersion, σ_z < 1 narrows them. Limits are not
    truncated to [0, 1]. With equal denominators the chart reduces to an XmR chart of p.

    Returns one row per point, sorted by series and period: ``series, period, numerator,
    denominator, p, centre, sigma_z, lcl, ucl, outside_limits, method``.

    References
    ----------
    Laney D.B. (2002). Improved control charts for attributes. *Quality Engineering* 14(4):
    531–537. doi:10.1081/QEN-120003555
    """
    absent = [c for c in (series, period, numerator, denominator) if c not in frame.columns]
    if absent:
        raise InputError(f"columns {absent} are not in the frame (it has {list(frame.columns)}).")
    data = pd.DataFrame(
        {
            "series": frame[series].reset_index(drop=True),
            "period": frame[period].reset_index(drop=True),
            "numerator": pd.to_numeric(frame[numerator], errors="coerce").reset_index(drop=True),
            "denominator": pd.to_numeric(frame[denominator], errors="coerce").reset_index(
                drop=True
            ),
        }
    )
    for column, name in (("numerator", numerator), ("denominator", denominator)):
        bad = data[column].isna().to_numpy() | (data[column] < 0).to_numpy()
        if bad.any():
            raise InputError(
                f"column '{name}' must be a non-negative number in every row; "
                f"not so in {_describe_rows(data, bad)}."
            )
    bad = (data["numerator"] > data["denominator"]).to_numpy() | (
        data["denominator"] == 0
    ).to_numpy()
    if bad.any():
        raise InputError(
            "numerator must not exceed a positive denominator; "
            f"fails in {_describe_rows(data, bad)}."
        )
    dup = data.duplicated(["series", "period"], keep=False).to_numpy()
    if dup.any():
        raise InputError(
            f"each (series, period) must appear once; duplicated in {_describe_rows(data, dup)}."
        )

    data = data.sort_values(["series", "period"], kind="stable", ignore_index=True)
    group = pd.factorize(data["series"])[0]
    x, n = data["numerator"].to_numpy(float), data["denominator"].to_numpy(float)
    centre = (np.bincount(group, weights=x) / np.bincount(group, weights=n))[group]
    sigma_p = np.sqrt(centre * (1 - centre) / n)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = (x / n - centre) / sigma_p
    z_by_series = pd.Series(z).groupby(group)
    moving_range = (z_by_series.diff()).abs()
    sigma_z = moving_range.groupby(group).transform("mean").to_numpy() / D2
    half_width = sigmas * sigma_p * sigma_z
    p = x / n
    return data.assign(
        p=p,
        centre=centre,
        sigma_z=sigma_z,
        lcl=centre - half_width,
        ucl=centre + half_width,
        outside_limits=(p > centre + half_width) | (p < centre - half_width),
        method="Laney P′",
    )
