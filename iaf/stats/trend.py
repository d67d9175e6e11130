"""Trend statistics over many series at once: Mann–Kendall, Theil–Sen, Fingertips recent trend.

Every function takes a long frame (one row per series × time point) and returns one row per
series. The work is vectorised over series: each series is laid out as a row of a NaN-padded 2-D
array and pairwise comparisons are made as (series × point × point) arrays in chunks, so the app
can compute trends for every area × indicator (hundreds of thousands of short series) without a
Python loop per series.

References
----------
Kendall, M. G. (1938). A new measure of rank correlation. Biometrika 30, 81–93.
Kendall, M. G. (1970). Rank Correlation Methods, 4th ed. Griffin (tie-corrected variance of S).
Hollander, M. & Wolfe, D. A. (1973). Nonparametric Statistical Methods. Wiley, pp. 185–194.
R Core Team. ``cor.test(x, y, method = "kendall")`` (stats package): exact p-value from
    Kendall's statistic distribution (``ckendall``) when n < 50 and there are no ties, otherwise
    the normal approximation with tie correction (``continuity = FALSE``).
Sen, P. K. (1968). Estimates of the regression coefficient based on Kendall's tau. JASA 63,
    1379–1389. Theil, H. (1950). A rank-invariant method of linear and polynomial regression
    analysis. Intercept as ``scipy.stats.theilslopes``: median(y) − slope · median(t).
Armitage, P. (1955). Tests for linear trends in proportions and frequencies. Biometrics 11,
    375–386 — R's ``prop.trend.test(x, n, score = seq_along(x))``.
Office for Health Improvement and Disparities / PHE. "Fingertips trend markers", Public Health
    Technical Guidance, https://fingertips.phe.org.uk/static-reports/public-health-technical-
    guidance/Presentation/Trend_markers.html — five most recent points; chi-squared test for trend
    in proportions, weighted regression (weights 1/variance) for other value types; significant
    at chi² > 9.5495 (99.8%); a trend is reported only if the slope keeps its sign when each point
    is left out in turn. Implemented in Fingertips' ``TrendMarkerCalculator.cs``
    (ukhsa-collaboration/fingertips-open, PholioVisualisationWS/Analysis/TrendMarkers) and in
    PHEindicatormethods ``assign_trend_markers()``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

import numpy as np
import pandas as pd
from scipy import special, stats

from iaf.errors import InputError

__all__ = [
    "FINGERTIPS_CHI2_CRITICAL",
    "FINGERTIPS_POINTS",
    "fingertips_recent_trend",
    "mann_kendall",
    "theil_sen",
]

# R's cor.test uses the exact null distribution of Kendall's statistic below this n (no ties).
KENDALL_EXACT_MAX_N = 50
# Fingertips' recent trend looks at the five most recent points (TrendMarkerCalculator.PointsToUse).
FINGERTIPS_POINTS = 5
# Critical chi² on 1 df at 99.8% (two-sided p < 0.002): chi2.ppf(0.998, 1). Fingertips hard-codes
# it as 9.54953570608324 (TrendMarkerCalculator.ChiSquareConfidence); PHEindicatormethods rounds
# it to 9.5495. We keep Fingertips' full-precision value.
FINGERTIPS_CHI2_CRITICAL = 9.54953570608324

VALUE_TYPES = ("proportion", "rate", "ratio", "other")
POLARITIES = ("higher_is_better", "lower_is_better", "no_judgement")
_CHUNK_ELEMENTS = 2_000_000  # series × points × points per pairwise block (~16 MB of float64)
_PAIR_ELEMENTS = 4_000_000  # series × pairs per dense Theil–Sen block (~32 MB of float64)
_LAG_SERIES = 65_536  # series per Mann–Kendall lag block (points × series, cache-sized)


# --------------------------------------------------------------------------------------------
# validation and layout
# --------------------------------------------------------------------------------------------


def _as_list(cols: str | Sequence[str]) -> list[str]:
    return [cols] if isinstance(cols, str) else list(cols)


def _describe_rows(frame: pd.DataFrame, mask: np.ndarray, cols: list[str], limit: int = 5) -> str:
    rows = frame.loc[mask, cols].head(limit)
    labels = [" ".join(str(v) for v in row) for row in rows.itertuples(index=False)]
    more = int(mask.sum()) - len(labels)
    return ", ".join(labels) + (f" and {more} more" if more > 0 else "")


def _require_columns(frame: pd.DataFrame, cols: list[str], what: str) -> None:
    if not isinstance(frame, pd.DataFrame):
        raise InputError(f"{what} needs a pandas DataFrame, got {type(frame).__name__}.")
    missing = [c for c in cols if c not in frame.columns]
    if missing:
        raise InputError(
            f"{what} needs column(s) {', '.join(map(repr, missing))}, which the frame lacks "
            f"(it has {', '.join(map(str, frame.columns))})."
        )


def _require_numeric(frame: pd.DataFrame, col: str, what: str, keys: list[str]) -> np.ndarray:
    values = pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype=float)
    bad = frame[col].notna().to_numpy() & np.isnan(values)
    if bad.any():
        raise InputError(
            f"{what}: column {col!r} must be numeric but has non-numeric values in "
            f"{int(bad.sum())} rows: {_describe_rows(frame, bad, [*keys, col])}."
        )
    return values


def _run_starts(column: pd.Series) -> np.ndarray:
    """True where a row's value differs from the row before (NaN never equals NaN here).

    Sorted input has one run per series, so keys are factorized at run starts only instead of
    hashing every row: far cheaper for string keys at practice scale.
    """
    n = len(column)
    starts = np.ones(n, dtype=bool)
    if n > 1:
        values = column.cat.codes if isinstance(column.dtype, pd.CategoricalDtype) else column
        same = values.array[1:] == values.array[:-1]
        if isinstance(same, pd.api.extensions.ExtensionArray):
            same = same.to_numpy(dtype=bool, na_value=False)
        starts[1:] = ~np.asarray(same, dtype=bool)
    return starts


def _key_codes(frame: pd.DataFrame, keys: list[str]) -> np.ndarray:
    """Dense series codes numbered in ``groupby(keys, sort=True, dropna=False)`` order."""
    n = len(frame)
    starts = np.zeros(n, dtype=bool)
    for key in keys:
        starts |= _run_starts(frame[key])
    heads = np.flatnonzero(starts)
    combined = np.zeros(len(heads), dtype=np.int64)
    for key in keys:
        # factorize sorts as groupby does (category order for categoricals); NaN keys go last
        codes, uniques = pd.factorize(frame[key].iloc[heads], sort=True)
        codes = np.where(codes < 0, len(uniques), codes)
        combined = combined * (len(uniques) + 1) + codes
    dense = np.unique(combined, return_inverse=True)[1].reshape(-1)
    return np.repeat(dense, np.diff(np.r_[heads, n]))


@dataclass(frozen=True)
class _Layout:
    """Where each row of a long frame goes in a (series × point) grid, points in time order."""

    index: pd.DataFrame  # one row per series: the key columns, sorted as groupby(sort=True)
    order: np.ndarray | None  # rows in (series, time) order; None when already so
    codes: np.ndarray  # series code of each row, in (series, time) order
    position: np.ndarray | None  # point within its series; None when all series are full
    shape: tuple[int, int]

    def grid(self, values: np.ndarray) -> np.ndarray:
        values = values if self.order is None else values[self.order]
        if self.position is None:  # every series has every point: a reshape, no scatter
            return values.astype(np.float64).reshape(self.shape)
        grid = np.full(self.shape, np.nan)
        grid[self.codes, self.position] = values
        return grid

    def per_row(self, per_series: np.ndarray) -> np.ndarray:
        """A per-series array spread back to the frame's rows, in the frame's order."""
        if self.order is None:
            return per_series[self.codes]
        out = np.empty(len(self.codes), dtype=per_series.dtype)
        out[self.order] = per_series[self.codes]
        return out


def _series_layout(
    frame: pd.DataFrame, keys: list[str], time: np.ndarray, time_name: str, what: str
) -> _Layout:
    """Series codes and time order of every row; rejects a time point repeated in a series."""
    codes = _key_codes(frame, keys)
    n = len(codes)
    step = np.diff(codes)
    later = np.diff(time) > 0
    if (step >= 0).all() and (later | (step > 0)).all():
        order = None  # already sorted by series then time, and so no repeats (the usual case)
    else:
        order = np.lexsort((time, codes))
        codes = codes[order]
        sorted_time = time[order]
        same = (codes[1:] == codes[:-1]) & (sorted_time[1:] == sorted_time[:-1])
        repeated = np.r_[same, False] | np.r_[False, same]
        if repeated.any():
            dup = np.zeros(n, dtype=bool)
            dup[order] = repeated
            raise InputError(
                f"{what}: column {time_name!r} repeats a time point within a series in "
                f"{int(dup.sum())} rows: {_describe_rows(frame, dup, [*keys, time_name])}."
            )
    n_series = int(codes[-1]) + 1 if n else 0
    first = np.searchsorted(codes, np.arange(n_series), side="left")
    lengths = np.diff(np.r_[first, n])
    width = int(lengths.max()) if n else 0
    position = None
    if n_series and (lengths != width).any():
        position = np.arange(n) - np.repeat(first, lengths)
    rows = first if order is None else order[first]
    index = frame[keys].iloc[rows].reset_index(drop=True)
    return _Layout(index, order, codes, position, (n_series, width))


def _compact(*grids: np.ndarray, in_place: bool = False) -> tuple[np.ndarray, ...]:
    """Move each row's jointly non-NaN points to the front (stable), NaN-padding the rest;
    ``in_place`` reuses grids the caller will not read again (millions of points each)."""
    valid = np.ones(grids[0].shape, dtype=bool)
    for g in grids:
        valid &= ~np.isnan(g)
    rows = np.flatnonzero(~valid.all(axis=1))  # complete rows stay as they are
    # stable argsort of ~valid keeps time order among valid points
    idx = np.argsort(~valid[rows], axis=1, kind="stable")
    kept = np.take_along_axis(valid[rows], idx, axis=1)
    out = []
    for g in grids:
        moved = np.take_along_axis(g[rows], idx, axis=1)
        moved[~kept] = np.nan
        g = g if in_place else g.copy()
        g[rows] = moved
        out.append(g)
    return tuple(out)


def _chunks(n_series: int, width: int) -> range:
    step = max(1, _CHUNK_ELEMENTS // max(1, width * width))
    return range(0, n_series, step)


# --------------------------------------------------------------------------------------------
# Mann–Kendall (Kendall's tau-b against time, as R cor.test)
# --------------------------------------------------------------------------------------------


@cache
def _kendall_cdf(n: int) -> np.ndarray:
    """P(T ≤ q), q = 0..n(n−1)/2, T = concordant pairs under H0 (R's ckendall / pkendall).

    The counts are Mahonian numbers (permutations of n with q inversions), built by the usual
    recursion adding one element at a time; divided by n! as R's ckendall does.
    """
    counts = np.ones(1)
    for m in range(2, n + 1):
        # adding element m can add 0..m−1 inversions
        counts = np.convolve(counts, np.ones(m))
    return np.cumsum(counts) / np.prod(np.arange(1, n + 1, dtype=float))


def _kendall_exact_p(q: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Two-sided exact p-value as R: q > n(n−1)/4 → 1 − P(T ≤ q−1), else P(T ≤ q); × 2, ≤ 1."""
    p = np.full(q.shape, np.nan)
    for size in np.unique(n):
        sel = n == size
        cdf = _kendall_cdf(int(size))
        qs = q[sel].astype(int)
        upper = qs > size * (size - 1) / 4
        one = np.where(upper, 1 - cdf[np.maximum(qs - 1, 0)], cdf[qs])
        one = np.where(upper & (qs == 0), 1.0, one)
        p[sel] = np.minimum(2 * one, 1.0)
    return p


def _tie_sums(values: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, ...]:
    """Σ over tie groups of t(t−1), t(t−1)(2t+5), t(t−1)(t−2), per row.

    Each element of a group of size t sees c = t equal elements (itself included), so a sum of
    f(t) over groups equals a sum of f(c)/c over elements.
    """
    eq = (values[:, :, None] == values[:, None, :]) & valid[:, :, None] & valid[:, None, :]
    c = eq.sum(axis=2).astype(float)
    return _tie_sums_from_counts(np.where(valid, c, 1.0), axis=1)


def _tie_sums_from_counts(c: np.ndarray, axis: int) -> tuple[np.ndarray, ...]:
    c = c.astype(float)
    return (
        (c - 1).sum(axis=axis),
        ((c - 1) * (2 * c + 5)).sum(axis=axis),
        ((c - 1) * (c - 2)).sum(axis=axis),
    )


def _kendall_counts_pairwise(t: np.ndarray, x: np.ndarray) -> dict[str, np.ndarray]:
    """S and tie sums from every (point, point) pair: any times, any values (general path)."""
    valid = ~np.isnan(x)
    pair = valid[:, :, None] & valid[:, None, :]
    pair &= np.triu(np.ones(pair.shape[1:], dtype=bool), k=1)
    with np.errstate(invalid="ignore"):
        sx = np.sign(x[:, None, :] - x[:, :, None])
        st = np.sign(t[:, None, :] - t[:, :, None])
    s = np.where(pair, sx * st, 0.0).sum(axis=(1, 2))
    x_ties, t_ties = _tie_sums(x, valid), _tie_sums(t, valid)
    return {"n": valid.sum(axis=1).astype(float), "s": s, "x_ties": x_ties, "t_ties": t_ties}


def _kendall_counts_by_lag(x: np.ndarray) -> dict[str, np.ndarray]:
    """S and tie sums when times increase along each row and values are finite or NaN.

    Then sign(t_j − t_i) = 1 for every pair i < j, so S is the count of rising minus falling
    pairs. Pairs are taken one lag at a time over the points × series (time-major) array, so
    each step is a whole-array operation, and x_j == x_i counts the tie group sizes.
    """
    xt = np.ascontiguousarray(x.T)
    width, m = xt.shape
    s = np.zeros(m, dtype=np.int64)
    c = np.ones((width, m), dtype=np.int32)  # elements equal to each element, itself included
    for lag in range(1, width):
        with np.errstate(invalid="ignore"):
            d = xt[lag:] - xt[:-lag]
        s += np.count_nonzero(d > 0, axis=0) - np.count_nonzero(d < 0, axis=0)
        tie = d == 0
        c[lag:] += tie
        c[:-lag] += tie
    zero = np.zeros(m)
    return {
        "n": np.count_nonzero(~np.isnan(xt), axis=0).astype(float),
        "s": s.astype(float),
        "x_ties": _tie_sums_from_counts(c, axis=0),
        "t_ties": (zero, zero, zero),
    }


def _kendall_result(counts: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    n, s = counts["n"], counts["s"]
    x_t1, x_v, x_t2 = counts["x_ties"]
    t_t1, t_v, t_t2 = counts["t_ties"]
    t0 = n * (n - 1) / 2
    with np.errstate(invalid="ignore", divide="ignore"):
        tau = s / np.sqrt((t0 - x_t1 / 2) * (t0 - t_t1 / 2))
        var_s = (
            (n * (n - 1) * (2 * n + 5) - x_v - t_v) / 18
            + x_t1 * t_t1 / (2 * n * (n - 1))
            + x_t2 * t_t2 / (9 * n * (n - 1) * (n - 2))
        )
        z = s / np.sqrt(var_s)
    ties = (x_t1 > 0) | (t_t1 > 0)
    exact = (n < KENDALL_EXACT_MAX_N) & ~ties & (n >= 2)
    p = 2 * stats.norm.sf(np.abs(z))
    if exact.any():
        # R: q = round((r + 1) n (n − 1) / 4) = number of concordant pairs
        q = np.round((tau[exact] + 1) * n[exact] * (n[exact] - 1) / 4)
        p[exact] = _kendall_exact_p(q, n[exact].astype(int))
    undefined = (n < 2) | ~np.isfinite(tau)
    method = np.select(
        [undefined, exact],
        [
            "not calculated: fewer than 2 points or no variation",
            "Kendall's tau-b, exact p-value (no ties, n < 50)",
        ],
        "Kendall's tau-b, normal approximation with tie correction",
    )
    tau[undefined] = np.nan
    p[undefined] = np.nan
    z = np.where(exact | undefined, np.nan, z)
    s = np.where(n < 2, np.nan, s)
    return {"n": n, "kendall_s": s, "kendall_tau": tau, "z": z, "p_value": p, "method": method}


def _kendall_counts(t: np.ndarray, x: np.ndarray, *, fast: bool = True) -> dict[str, np.ndarray]:
    """Counts for (series × point) grids in time order; rows holding ±inf take the general path
    (inf − inf is NaN there, as R would have it), the rest go by lag."""
    general = np.isinf(x).any(axis=1) | (not fast)
    parts = []
    if not general.all():
        rows = np.flatnonzero(~general)
        for a in range(0, len(rows), _LAG_SERIES):
            parts.append(
                (rows[a : a + _LAG_SERIES], _kendall_counts_by_lag(x[rows[a : a + _LAG_SERIES]]))
            )
    rows = np.flatnonzero(general)
    step = max(1, _CHUNK_ELEMENTS // max(1, x.shape[1] ** 2))
    for a in range(0, len(rows), step):
        r = rows[a : a + step]
        parts.append((r, _kendall_counts_pairwise(t[r], x[r])))
    m = len(x)
    out = {"n": np.zeros(m), "s": np.zeros(m)}
    out["x_ties"] = tuple(np.zeros(m) for _ in range(3))
    out["t_ties"] = tuple(np.zeros(m) for _ in range(3))
    for r, part in parts:
        for key in ("n", "s"):
            out[key][r] = part[key]
        for key in ("x_ties", "t_ties"):
            for target, values in zip(out[key], part[key], strict=True):
                target[r] = values
    return out


def _prepare(
    frame: pd.DataFrame, series: str | Sequence[str], time: str, value: str, what: str
) -> tuple[_Layout, np.ndarray, np.ndarray]:
    keys = _as_list(series)
    _require_columns(frame, [*keys, time, value], what)
    t = _require_numeric(frame, time, what, keys)
    bad_t = np.isnan(t)
    if bad_t.any():
        raise InputError(
            f"{what}: column {time!r} is missing in {int(bad_t.sum())} rows: "
            f"{_describe_rows(frame, bad_t, keys)}."
        )
    layout = _series_layout(frame, keys, t, time, what)
    x = _require_numeric(frame, value, what, keys)
    return layout, layout.grid(t), layout.grid(x)


def mann_kendall(
    frame: pd.DataFrame,
    *,
    series: str | Sequence[str] = "series",
    time: str = "t",
    value: str = "value",
) -> pd.DataFrame:
    """Mann–Kendall trend test per series: Kendall's tau-b of value against time, as R's cor.test.

    Parameters
    ----------
    frame
        Long frame, one row per series × time point. NaN values are dropped (R's complete cases).
        Rows already sorted by series then time (any key dtype), and integer or categorical
        keys, are the fast route at scale; other frames are sorted first.
    series
        Column(s) identifying a series.
    time, value
        Numeric columns; a time point may appear once per series.

    Returns
    -------
    One row per series: the series key column(s), ``n`` (non-missing points), ``kendall_s``
    (S = concordant − discordant pairs), ``kendall_tau`` (tau-b), ``z`` (normal statistic when
    used), ``p_value`` (two-sided) and ``method``. The p-value is exact (R's ``ckendall``) when
    n < 50 and neither variable has ties; otherwise it is the normal approximation with tie
    correction and no continuity correction, exactly as ``cor.test(x, y, method = "kendall")``.
    Fewer than two points or a constant series give NaN tau and p-value.

    References
    ----------
    Kendall (1938, 1970); Hollander & Wolfe (1973) pp. 185–194; R ``cor.test`` (stats).
    """
    layout, tg, xg = _prepare(frame, series, time, value, "mann_kendall")
    out = _kendall_result(_kendall_counts(tg, xg))
    return layout.index.assign(
        n=out["n"].astype(int),
        kendall_s=out["kendall_s"],
        kendall_tau=out["kendall_tau"],
        z=out["z"],
        p_value=out["p_value"],
        method=pd.array(out["method"], dtype="str"),
    )


# --------------------------------------------------------------------------------------------
# Theil–Sen
# --------------------------------------------------------------------------------------------


def _theil_sen_block(t: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """General path: every (point, point) pair of NaN-padded rows, NaN-aware medians."""
    with np.errstate(invalid="ignore", divide="ignore"):
        dt = t[:, None, :] - t[:, :, None]
        slopes = (x[:, None, :] - x[:, :, None]) / dt
    upper = np.triu(np.ones(dt.shape[1:], dtype=bool), k=1)
    slopes = np.where(upper & (dt != 0) & np.isfinite(slopes), slopes, np.nan)
    flat = slopes.reshape(len(t), -1)
    has = ~np.isnan(flat).all(axis=1)
    slope = np.full(len(t), np.nan)
    intercept = np.full(len(t), np.nan)
    if has.any():
        slope[has] = np.nanmedian(flat[has], axis=1)
        with np.errstate(invalid="ignore"):
            intercept[has] = np.nanmedian(x[has], axis=1) - slope[has] * np.nanmedian(
                t[has], axis=1
            )
    return slope, intercept


def _theil_sen_rows(t: np.ndarray, x: np.ndarray, *, fast: bool = True) -> tuple[np.ndarray, ...]:
    """Slope and intercept of each row of compacted grids (valid points first, time order).

    Fast path: rows with the same number n of points share one (i < j) pair index, so their
    n(n−1)/2 slopes form a dense block whose row medians need no NaN handling. Rows with a
    non-finite slope (±inf values) take the general path, which drops such slopes.
    """
    m = len(x)
    n = np.count_nonzero(~np.isnan(x), axis=1)
    slope, intercept = np.full(m, np.nan), np.full(m, np.nan)
    general = np.zeros(m, dtype=bool) if fast else n >= 2
    for size in np.unique(n[n >= 2]) if fast else ():
        rows = np.flatnonzero(n == size)
        i, j = np.triu_indices(size, k=1)
        step = max(1, _PAIR_ELEMENTS // len(i))
        for a in range(0, len(rows), step):
            r = rows[a : a + step]
            xs, ts = x[r, :size], t[r, :size]
            with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
                pairs = (xs[:, j] - xs[:, i]) / (ts[:, j] - ts[:, i])
            finite = np.isfinite(pairs).all(axis=1)
            if not finite.all():
                general[r[~finite]] = True
                r, xs, ts, pairs = r[finite], xs[finite], ts[finite], pairs[finite]
            slope[r] = np.median(pairs, axis=1)
            intercept[r] = np.median(xs, axis=1) - slope[r] * np.median(ts, axis=1)
    rows = np.flatnonzero(general)
    step = max(1, _CHUNK_ELEMENTS // max(1, x.shape[1] ** 2))
    for a in range(0, len(rows), step):
        r = rows[a : a + step]
        slope[r], intercept[r] = _theil_sen_block(t[r], x[r])
    return n, slope, intercept


def theil_sen(
    frame: pd.DataFrame,
    *,
    series: str | Sequence[str] = "series",
    time: str = "t",
    value: str = "value",
) -> pd.DataFrame:
    """Theil–Sen slope per series: the median of all pairwise slopes (Sen 1968).

    Returns one row per series with ``n``, ``slope``, ``intercept`` (median(value) −
    slope · median(time) over the non-missing points, as ``scipy.stats.theilslopes``) and
    ``method``. Fewer than two non-missing points give NaN. As for :func:`mann_kendall`, a
    frame already sorted by series then time is the fast route.

    References
    ----------
    Theil (1950); Sen (1968) doi:10.1080/01621459.1968.10480934; scipy.stats.theilslopes.
    """
    layout, tg, xg = _prepare(frame, series, time, value, "theil_sen")
    n, slope, intercept = _theil_sen_rows(*_compact(tg, xg))
    method = np.where(
        n >= 2, "Theil–Sen median of pairwise slopes", "not calculated: fewer than 2 points"
    )
    return layout.index.assign(
        n=n.astype(int),
        slope=slope,
        intercept=intercept,
        method=pd.array(method, dtype="str"),
    )


# --------------------------------------------------------------------------------------------
# Fingertips recent trend
# --------------------------------------------------------------------------------------------

_DIRECTIONS = {
    "higher_is_better": ("getting better", "getting worse"),
    "lower_is_better": ("getting worse", "getting better"),
    "no_judgement": ("increasing", "decreasing"),
}
NO_CHANGE = "no significant change"
NOT_CALCULATED = "could not be calculated"


def _per_row_setting(
    frame: pd.DataFrame,
    setting: str,
    allowed: tuple[str, ...],
    name: str,
    keys: list[str],
    layout: _Layout,
) -> np.ndarray:
    """Index into ``allowed`` per series. A keyword applies to every row; any other string names
    a column holding the keyword, constant within each series."""
    if setting in allowed:
        return np.full(layout.shape[0], allowed.index(setting))
    if setting not in frame.columns:
        raise InputError(
            f"fingertips_recent_trend: {name} must be one of {', '.join(allowed)} or the name of "
            f"a column holding them; got {setting!r}."
        )
    # the setting is constant along runs of rows: look each run up once, not every row
    heads = np.flatnonzero(_run_starts(frame[setting]))
    column = frame[setting].iloc[heads].astype(object)
    head_codes = pd.Categorical(column, categories=list(allowed)).codes
    codes = np.repeat(head_codes, np.diff(np.r_[heads, len(frame)]))
    bad = codes < 0
    if bad.any():
        raise InputError(
            f"fingertips_recent_trend: column {setting!r} must hold one of {', '.join(allowed)} "
            f"but has other values in {int(bad.sum())} rows: "
            f"{_describe_rows(frame, bad, [*keys, setting])}."
        )
    if layout.shape[0] == 0:
        return np.zeros(0, dtype=int)
    grid = layout.grid(codes.astype(float))
    low, high = np.nanmin(grid, axis=1), np.nanmax(grid, axis=1)
    varying_series = low != high
    if varying_series.any():
        varying = layout.per_row(varying_series)
        raise InputError(
            f"fingertips_recent_trend: column {setting!r} must be constant within a series but "
            f"varies in {int(varying.sum())} rows: {_describe_rows(frame, varying, keys)}."
        )
    return high.astype(int)


def _last_points(valid_first: np.ndarray, n_valid: np.ndarray, k: int) -> np.ndarray:
    """Column indices of each row's k most recent valid points (valid points packed first)."""
    idx = n_valid[:, None] - k + np.arange(k)[None, :]
    return np.clip(idx, 0, max(valid_first.shape[1] - 1, 0))


def _loo_masks(k: int) -> np.ndarray:
    """(k + 1) × k inclusion masks: all points, then each point left out in turn."""
    return np.vstack([np.ones(k, dtype=bool), ~np.eye(k, dtype=bool)])


def _sum_points(a: np.ndarray) -> np.ndarray:
    """``a.sum(axis=-1)`` for a few points per row, with the same bits: numpy sums fewer than 8
    numbers in sequence from 0, and so does this, a whole column (point) at a time instead of a
    five-number loop per row."""
    if a.shape[-1] >= 8:  # numpy sums these pairwise
        return a.sum(axis=-1)
    total = np.zeros(a.shape[:-1])
    for i in range(a.shape[-1]):
        total += a[..., i]
    return total


def _ols_slopes(y: np.ndarray, t: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Weighted least-squares slope of y on t for the full set and each leave-one-out subset.

    y, w: (series × k); returns (series × (k + 1)).
    """
    masks = _loo_masks(y.shape[1]).astype(float)  # (k+1) × k
    # point-major (k × (k+1) × series), so each sum over the points adds whole arrays; a point
    # left out is multiplied by 0, as before, so a non-finite weight still spoils its sums
    ww = w.T[:, None, :] * masks.T[:, :, None]
    wt = ww * t[:, None, None]
    yt = y.T[:, None, :]

    def total(a: np.ndarray) -> np.ndarray:
        return _sum_points(np.moveaxis(a, 0, -1))

    with np.errstate(invalid="ignore", divide="ignore"):
        s_w, s_t, s_y = total(ww), total(wt), total(ww * yt)
        s_tt, s_ty = total(wt * t[:, None, None]), total(wt * yt)
        return ((s_w * s_ty - s_t * s_y) / (s_w * s_tt - s_t**2)).T


def _trend_for_proportions(x: np.ndarray, n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Chi² for trend in proportions (Armitage 1955 = R prop.trend.test, scores 1..k) and slopes.

    Fingertips decides the direction, and the leave-one-out check, from the unweighted
    least-squares slope of logit(p) = log(x / (n − x)) on the scores
    (TrendMarkerCalculator.NoOutliersCheckForProportion).
    """
    t = np.arange(1, x.shape[1] + 1, dtype=float)
    big_n, big_x = _sum_points(n), _sum_points(x)
    s_xt, s_nt, s_ntt = _sum_points(x * t), _sum_points(n * t), _sum_points(n * t * t)
    with np.errstate(invalid="ignore", divide="ignore"):
        chi2 = (
            big_n
            * (big_n * s_xt - big_x * s_nt) ** 2
            / (big_x * (big_n - big_x) * (big_n * s_ntt - s_nt**2))
        )
        logit = np.log(x / (n - x))
    slopes = _ols_slopes(logit, t, np.ones_like(x))
    slopes[~np.isfinite(logit).all(axis=1)] = np.nan
    return chi2, slopes


def _trend_for_values(v: np.ndarray, se: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weighted regression of value on time, weights 1 / se² (Fingertips, rates and ratios).

    chi² = (slope / SE(slope))², SE(slope)² = Σw / (Σw Σwt² − (Σwt)²).
    """
    t = np.arange(1, v.shape[1] + 1, dtype=float)
    w = 1 / se**2
    slopes = _ols_slopes(v, t, w)
    s_w, s_t, s_tt = _sum_points(w), _sum_points(w * t), _sum_points(w * t * t)
    with np.errstate(invalid="ignore", divide="ignore"):
        chi2 = slopes[:, 0] ** 2 * (s_w * s_tt - s_t**2) / s_w
    return chi2, slopes


def _numeric_columns(
    frame: pd.DataFrame, cols: dict[str, str | None], keys: list[str]
) -> dict[str, np.ndarray]:
    what = "fingertips_recent_trend"
    out = {}
    for name, col in cols.items():
        out[name] = (
            np.full(len(frame), np.nan) if col is None else _require_numeric(frame, col, what, keys)
        )
    return out


def _check_counts(frame: pd.DataFrame, num: dict[str, np.ndarray], cols: dict, keys, props):
    what = "fingertips_recent_trend"
    checks = [
        (num["numerator"] < 0, f"column {cols['numerator']!r} is negative"),
        (num["denominator"] < 0, f"column {cols['denominator']!r} is negative"),
        (
            props & (num["numerator"] > num["denominator"]),
            f"numerator ({cols['numerator']!r}) exceeds denominator ({cols['denominator']!r})",
        ),
        (num["lower"] > num["upper"], f"lower limit ({cols['lower']!r}) exceeds upper limit"),
    ]
    for bad, sentence in checks:
        if bad.any():
            raise InputError(
                f"{what}: {sentence} in {int(bad.sum())} rows: {_describe_rows(frame, bad, keys)}."
            )


def fingertips_recent_trend(
    frame: pd.DataFrame,
    *,
    series: str | Sequence[str] = "series",
    order: str = "t",
    numerator: str = "numerator",
    denominator: str = "denominator",
    value_type: str = "proportion",
    polarity: str = "higher_is_better",
    value: str | None = None,
    lower_ci: str | None = None,
    upper_ci: str | None = None,
    confidence: float = 0.95,
    suppressed: str | None = None,
) -> pd.DataFrame:
    """Fingertips' "recent trend" per series, over its five most recent valid points.

    Proportions: chi-squared test for trend in proportions (Cochran–Armitage, R's
    ``prop.trend.test(x, n, score = seq_along(x))``), direction from the least-squares slope of
    logit(p) on time. Rates, ratios and other values: weighted regression of the value on time
    with weights 1 / variance, chi² = (slope / SE)². Either way the trend is significant when
    chi² > 9.5495 (:data:`FINGERTIPS_CHI2_CRITICAL`, p < 0.002) and is reported only if the slope
    keeps its sign when each of the five points is left out in turn; otherwise "no significant
    change". Time is scored 1..5 over the points used, as Fingertips does.

    Parameters
    ----------
    frame
        Long frame, one row per series × period.
    series
        Column(s) identifying a series (for example area and indicator).
    order
        Column whose sort order is time order (a year, or labels such as "2016/17").
    numerator, denominator
        Counts. Proportions need both; for other value types the value defaults to
        numerator / denominator and, without confidence limits, its variance to value² /
        numerator (Poisson count; also right for an observed/expected ratio).
    value_type
        "proportion", "rate", "ratio" or "other" for every row, or the name of a column holding
        one of these per series.
    polarity
        "higher_is_better", "lower_is_better" or "no_judgement", or a column of these.
    value, lower_ci, upper_ci, confidence
        For non-proportions: the indicator value and its confidence limits, from which
        SE = (upper − lower) / (2 z), z = norm.ppf((1 + confidence) / 2) (Fingertips: 95% limits,
        (U − L) / 3.92).
    suppressed
        Optional boolean column; True marks a suppressed point, treated as missing.

    Returns
    -------
    One row per series: key column(s), ``n_points`` (valid points used, at most 5), ``chi2``,
    ``p_value`` (chi² on 1 df), ``slope`` (logit slope for proportions, weighted slope
    otherwise), ``slope_sign``, ``direction`` ("getting better"/"getting worse", or
    "increasing"/"decreasing" with no_judgement, "no significant change", "could not be
    calculated"), ``reason`` and ``method``.

    References
    ----------
    OHID/PHE, Fingertips trend markers (Public Health Technical Guidance); Fingertips
    ``TrendMarkerCalculator.cs``; PHEindicatormethods ``assign_trend_markers()``;
    Armitage (1955); R ``prop.trend.test`` (Peter Dalgaard).
    """
    what = "fingertips_recent_trend"
    keys = _as_list(series)
    named = [c for c in (value, lower_ci, upper_ci, suppressed) if c is not None]
    _require_columns(frame, [*keys, order, numerator, denominator, *named], what)
    if (lower_ci is None) != (upper_ci is None):
        raise InputError(f"{what}: give both lower_ci and upper_ci, or neither.")
    if not 0 < confidence < 1:
        raise InputError(f"{what}: confidence must be between 0 and 1, got {confidence!r}.")
    try:
        time_rank = pd.factorize(frame[order], sort=True)[0].astype(float)
    except TypeError as exc:
        raise InputError(f"{what}: column {order!r} must hold sortable values ({exc}).") from None
    layout = _series_layout(frame, keys, time_rank, order, what)
    is_prop = _per_row_setting(frame, value_type, VALUE_TYPES, "value_type", keys, layout) == 0
    pol_code = _per_row_setting(frame, polarity, POLARITIES, "polarity", keys, layout)
    cols = {"numerator": numerator, "denominator": denominator, "value": value}
    cols |= {"lower": lower_ci, "upper": upper_ci}
    num = _numeric_columns(frame, cols, keys)
    props = layout.per_row(is_prop)
    _check_counts(frame, num, cols, keys, props)

    with np.errstate(invalid="ignore", divide="ignore"):
        v = num["value"] if value is not None else num["numerator"] / num["denominator"]
        if lower_ci is not None:
            z = stats.norm.ppf(0.5 + confidence / 2)
            se = (num["upper"] - num["lower"]) / (2 * z)
        else:
            se = np.abs(v) / np.sqrt(num["numerator"])
    ok = np.isfinite(num["numerator"]) & np.isfinite(num["denominator"]) & (num["denominator"] > 0)
    ok &= props | (np.isfinite(v) & np.isfinite(se) & (se > 0))
    if suppressed is not None:
        ok &= ~frame[suppressed].fillna(False).astype(bool).to_numpy()

    index = layout.index
    grids = {
        "x": layout.grid(np.where(ok, num["numerator"], np.nan)),
        "n": layout.grid(np.where(ok, num["denominator"], np.nan)),
        "v": layout.grid(np.where(ok, v, np.nan)),
        "se": layout.grid(np.where(ok, se, np.nan)),
    }
    valid = ~np.isnan(grids["x"])
    n_valid = valid.sum(axis=1)
    gx, gn, gv, gse = _compact(
        grids.pop("x"), grids.pop("n"), grids.pop("v"), grids.pop("se"), in_place=True
    )
    k = FINGERTIPS_POINTS
    idx = _last_points(gx, n_valid, k)
    x5, n5, v5, se5 = (np.take_along_axis(g, idx, axis=1) for g in (gx, gn, gv, gse))
    return index.assign(**_recent_trend_columns(x5, n5, v5, se5, n_valid, is_prop, pol_code))


def _recent_trend_columns(
    x5: np.ndarray,
    n5: np.ndarray,
    v5: np.ndarray,
    se5: np.ndarray,
    n_valid: np.ndarray,
    is_prop: np.ndarray,
    pol_code: np.ndarray,
) -> dict[str, np.ndarray | pd.api.extensions.ExtensionArray]:
    """fingertips_recent_trend's result columns from each series' last five valid points
    (series × 5, in time order), its count of valid points, type and polarity."""
    k = FINGERTIPS_POINTS
    enough = n_valid >= k
    for g in (x5, n5, v5, se5):
        g[~enough] = 1.0  # placeholders keep the arithmetic quiet; results are masked below

    chi2 = np.full(len(n_valid), np.nan)
    slopes = np.full((len(n_valid), k + 1), np.nan)
    if is_prop.any():
        c, s = _trend_for_proportions(x5[is_prop], n5[is_prop])
        chi2[is_prop], slopes[is_prop] = c, s
    if (~is_prop).any():
        c, s = _trend_for_values(v5[~is_prop], se5[~is_prop])
        chi2[~is_prop], slopes[~is_prop] = c, s
    chi2[~enough] = np.nan
    slopes[~enough] = np.nan
    slope = slopes[:, 0]
    sign = np.sign(slopes)
    consistent = (sign[:, 1:] == sign[:, :1]).all(axis=1)
    significant = chi2 > FINGERTIPS_CHI2_CRITICAL
    slope_undefined = enough & np.isnan(slope)
    trend = enough & significant & consistent & ~slope_undefined

    # labels as codes into small tables, each converted to text once
    directions = [NO_CHANGE, NOT_CALCULATED]
    for p in POLARITIES:
        directions += [label for label in _DIRECTIONS[p] if label not in directions]
    better = np.array([directions.index(_DIRECTIONS[p][0]) for p in POLARITIES])
    worse = np.array([directions.index(_DIRECTIONS[p][1]) for p in POLARITIES])
    direction = np.zeros(len(n_valid), dtype=np.intp)  # NO_CHANGE
    direction[trend & (slope > 0)] = better[pol_code[trend & (slope > 0)]]
    direction[trend & (slope < 0)] = worse[pol_code[trend & (slope < 0)]]
    direction[~enough | slope_undefined] = 1  # NOT_CALCULATED

    crit = f"{FINGERTIPS_CHI2_CRITICAL:.4f}"
    reasons = [
        f"no significant trend (chi² ≤ {crit})",
        "significant, but the slope changes sign when one point is left out (outlier found)",
        f"significant trend (chi² > {crit}), same slope sign with each point left out",
        "a proportion of 0 or 1 among the last 5 points: the logit slope is undefined",
        *(f"fewer than {k} points ({m} available)" for m in range(k)),
    ]
    reason = np.zeros(len(n_valid), dtype=np.intp)
    reason[significant & ~consistent] = 1
    reason[trend] = 2
    reason[slope_undefined] = 3
    reason[~enough] = 4 + n_valid[~enough]
    methods = [
        "Fingertips recent trend: weighted regression (weights 1/variance)",
        "Fingertips recent trend: chi-squared test for trend in proportions",
    ]
    return {
        "n_points": np.minimum(n_valid, k).astype(int),
        "chi2": chi2,
        # chi2.sf(chi2, 1) is chdtrc(1, chi2); called directly it skips scipy.stats'
        # argument checks, which cost a third of a second at practice scale
        "p_value": special.chdtrc(1, chi2),
        "slope": slope,
        "slope_sign": np.where(np.isnan(slope), 0, np.sign(slope)).astype(int),
        "direction": _labels(directions, direction),
        "reason": _labels(reasons, reason),
        "method": _labels(methods, is_prop.astype(np.intp)),
    }


def _labels(table: list[str], codes: np.ndarray) -> pd.api.extensions.ExtensionArray:
    """A "str" array of ``table[code]`` per row: each label converted to text once, not per row."""
    return pd.array(table, dtype="str").take(codes)


def _recent_trend_runs(
    numerator: np.ndarray,
    denominator: np.ndarray,
    value: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    suppressed: np.ndarray,
    is_prop: np.ndarray,
    pol_code: np.ndarray,
    starts: np.ndarray,
    confidence: float = 0.95,
) -> dict[str, np.ndarray | pd.api.extensions.ExtensionArray] | None:
    """fingertips_recent_trend's result columns for rows laid out as runs, one per series in
    time order, starting at ``starts`` (the whole-dataset analysis's layout), with a value
    column and confidence limits, without a frame going in: each series' last five valid points
    are found and gathered (no grid built and compacted). ``is_prop`` and ``pol_code`` (into
    POLARITIES) are per series. None when a row fails a check of fingertips_recent_trend: that
    function then says which.
    """
    lengths = np.diff(np.r_[starts, len(numerator)])
    props = np.repeat(is_prop, lengths)
    with np.errstate(invalid="ignore"):
        bad = (
            (numerator < 0)
            | (denominator < 0)
            | (props & (numerator > denominator))
            | (lower > upper)
        )
    if bad.any():
        return None
    with np.errstate(invalid="ignore", divide="ignore"):
        z = stats.norm.ppf(0.5 + confidence / 2)
        se = (upper - lower) / (2 * z)
        ok = np.isfinite(numerator) & np.isfinite(denominator) & (denominator > 0)
        ok &= props | (np.isfinite(value) & np.isfinite(se) & (se > 0))
    ok &= ~suppressed
    # as fingertips_recent_trend counts them: points with a valid numerator count towards the
    # five, but only points valid in every column are used (a proportion's value or limits
    # can be missing while its counts are not)
    used = ok & ~np.isnan(value) & ~np.isnan(se)
    n_valid = np.add.reduceat(ok, starts, dtype=np.intp) if len(starts) else starts
    n_used = np.add.reduceat(used, starts, dtype=np.intp) if len(starts) else starts
    at = np.flatnonzero(used)
    k = FINGERTIPS_POINTS
    rank = n_valid[:, None] - k + np.arange(k)  # among the series' used points
    have = (n_valid >= k)[:, None] & (rank < n_used[:, None])
    row = np.zeros(have.shape, dtype=np.intp)
    if len(at):
        row = at[np.where(have, (np.cumsum(n_used) - n_used)[:, None] + rank, 0)]

    def last_points(column: np.ndarray) -> np.ndarray:
        return np.where(have, column[row], np.nan)

    return _recent_trend_columns(
        last_points(numerator),
        last_points(denominator),
        last_points(value),
        last_points(se),
        n_valid,
        is_prop,
        pol_code,
    )
