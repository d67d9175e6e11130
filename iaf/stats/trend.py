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
from functools import cache

import numpy as np
import pandas as pd
from scipy import stats

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


def _require_unique_time(frame: pd.DataFrame, keys: list[str], time: str, what: str) -> None:
    dup = frame.duplicated([*keys, time], keep=False).to_numpy()
    if dup.any():
        raise InputError(
            f"{what}: column {time!r} repeats a time point within a series in {int(dup.sum())} "
            f"rows: {_describe_rows(frame, dup, [*keys, time])}."
        )


def _layout(
    frame: pd.DataFrame, keys: list[str], time: str, columns: dict[str, np.ndarray]
) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Series index and NaN-padded (series × point) arrays, points in time order per series."""
    order = np.lexsort((frame[time].to_numpy(), *(frame[k].to_numpy() for k in reversed(keys))))
    ordered = frame.iloc[order]
    codes, uniques = pd.MultiIndex.from_frame(ordered[keys]).factorize(sort=True)
    # factorize(sort=True) on a MultiIndex returns codes in sorted-unique order
    n_series = len(uniques)
    position = pd.Series(codes).groupby(codes).cumcount().to_numpy()
    width = int(position.max()) + 1 if len(position) else 0
    arrays = {}
    for name, values in columns.items():
        grid = np.full((n_series, width), np.nan)
        grid[codes, position] = values[order]
        arrays[name] = grid
    index = pd.DataFrame(list(uniques), columns=keys) if n_series else frame[keys].iloc[:0]
    return index.reset_index(drop=True), arrays


def _compact(*grids: np.ndarray) -> tuple[np.ndarray, ...]:
    """Move each row's jointly non-NaN points to the front (stable), NaN-padding the rest."""
    valid = np.ones(grids[0].shape, dtype=bool)
    for g in grids:
        valid &= ~np.isnan(g)
    # stable argsort of ~valid keeps time order among valid points
    idx = np.argsort(~valid, axis=1, kind="stable")
    out = []
    for g in grids:
        moved = np.take_along_axis(g, idx, axis=1)
        moved[~np.take_along_axis(valid, idx, axis=1)] = np.nan
        out.append(moved)
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
    c = np.where(valid, c, 1.0)
    return (
        (c - 1).sum(axis=1),
        ((c - 1) * (2 * c + 5)).sum(axis=1),
        ((c - 1) * (c - 2)).sum(axis=1),
    )


def _mann_kendall_block(t: np.ndarray, x: np.ndarray) -> dict[str, np.ndarray]:
    valid = ~np.isnan(x)
    n = valid.sum(axis=1).astype(float)
    pair = valid[:, :, None] & valid[:, None, :]
    upper = np.triu(np.ones(pair.shape[1:], dtype=bool), k=1)
    pair &= upper
    with np.errstate(invalid="ignore"):
        sx = np.sign(x[:, None, :] - x[:, :, None])
        st = np.sign(t[:, None, :] - t[:, :, None])
    s = np.where(pair, sx * st, 0.0).sum(axis=(1, 2))
    x_t1, x_v, x_t2 = _tie_sums(x, valid)
    t_t1, t_v, t_t2 = _tie_sums(t, valid)
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
    method = np.where(
        exact,
        "Kendall's tau-b, exact p-value (no ties, n < 50)",
        "Kendall's tau-b, normal approximation with tie correction",
    ).astype(object)
    method[undefined] = "not calculated: fewer than 2 points or no variation"
    tau[undefined] = np.nan
    p[undefined] = np.nan
    z = np.where(exact | undefined, np.nan, z)
    s = np.where(n < 2, np.nan, s)
    return {"n": n, "kendall_s": s, "kendall_tau": tau, "z": z, "p_value": p, "method": method}


def _prepare(
    frame: pd.DataFrame, series: str | Sequence[str], time: str, value: str, what: str
) -> tuple[list[str], pd.DataFrame, np.ndarray, np.ndarray]:
    keys = _as_list(series)
    _require_columns(frame, [*keys, time, value], what)
    t = _require_numeric(frame, time, what, keys)
    bad_t = np.isnan(t)
    if bad_t.any():
        raise InputError(
            f"{what}: column {time!r} is missing in {int(bad_t.sum())} rows: "
            f"{_describe_rows(frame, bad_t, keys)}."
        )
    _require_unique_time(frame, keys, time, what)
    x = _require_numeric(frame, value, what, keys)
    return keys, frame, t, x


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
    what = "mann_kendall"
    keys, frame, t, x = _prepare(frame, series, time, value, what)
    index, grids = _layout(frame, keys, time, {"t": t, "x": x})
    tg, xg = _compact(grids["t"], grids["x"])
    chunks = _chunks(len(tg), tg.shape[1])
    parts = [_mann_kendall_block(tg[i : i + chunks.step], xg[i : i + chunks.step]) for i in chunks]
    names = ("n", "kendall_s", "kendall_tau", "z", "p_value", "method")
    out = {k: np.concatenate([p[k] for p in parts]) if parts else np.array([]) for k in names}
    return index.assign(
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
    with np.errstate(invalid="ignore", divide="ignore"):
        dt = t[:, None, :] - t[:, :, None]
        slopes = (x[:, None, :] - x[:, :, None]) / dt
    upper = np.triu(np.ones(dt.shape[1:], dtype=bool), k=1)
    slopes = np.where(upper & (dt != 0) & np.isfinite(slopes), slopes, np.nan)
    flat = slopes.reshape(len(t), -1)
    has = ~np.isnan(flat).all(axis=1)
    slope = np.full(len(t), np.nan)
    if has.any():
        slope[has] = np.nanmedian(flat[has], axis=1)
        # nanmedian over the row's pairs only; rows without pairs stay NaN
    with np.errstate(invalid="ignore"):
        intercept = np.full(len(t), np.nan)
        if has.any():
            intercept[has] = np.nanmedian(x[has], axis=1) - slope[has] * np.nanmedian(
                t[has], axis=1
            )
    return slope, intercept


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
    ``method``. Fewer than two non-missing points give NaN.

    References
    ----------
    Theil (1950); Sen (1968) doi:10.1080/01621459.1968.10480934; scipy.stats.theilslopes.
    """
    what = "theil_sen"
    keys, frame, t, x = _prepare(frame, series, time, value, what)
    index, grids = _layout(frame, keys, time, {"t": t, "x": x})
    tg, xg = _compact(grids["t"], grids["x"])
    n = (~np.isnan(xg)).sum(axis=1)
    chunks = _chunks(len(tg), tg.shape[1])
    parts = [_theil_sen_block(tg[i : i + chunks.step], xg[i : i + chunks.step]) for i in chunks]
    slope = np.concatenate([p[0] for p in parts]) if parts else np.array([])
    intercept = np.concatenate([p[1] for p in parts]) if parts else np.array([])
    method = np.where(
        n >= 2, "Theil–Sen median of pairwise slopes", "not calculated: fewer than 2 points"
    )
    return index.assign(
        n=n.astype(int),
        slope=slope,
        intercept=intercept,
        method=pd.array(method, dtype="str"),
    )
