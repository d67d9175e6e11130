"""Confidence intervals for indicators, as PHEindicatormethods 2.1.0 (the Fingertips methods).

Each function is small, pure and vectorised over numpy arrays / pandas Series. ``confidence`` is a
parameter everywhere: a scalar gives 1-D results shaped like the input; a sequence of k levels gives
2-D results of shape ``(k, len(x))``, one row per level. Missing input (NaN, None, pd.NA) gives NaN
out, never an exception and never 0. Invalid input (negative counts, a numerator above its
denominator for a proportion, a confidence level outside (0, 1)) raises
:class:`iaf.errors.InputError` at the public boundary, naming the argument and the rows.

References
----------
- PHEindicatormethods 2.1.0 (UKHSA/OHID), commit 093fd288, R/utils.R (``byars_lower``,
  ``byars_upper``, ``wilson_lower``, ``wilson_upper``), R/Proportions.R, R/Rates.R, R/ISRatio.R,
  R/ISRate.R, R/DSR.R, R/Means.R.
- Fingertips Public Health Technical Guidance, "Confidence intervals"
  (https://fingertips.phe.org.uk/profile/guidance).
- Wilson EB. Probable inference, the law of succession, and statistical inference.
  J Am Stat Assoc 1927;22:209-212. Newcombe RG. Two-sided confidence intervals for the single
  proportion. Stat Med 1998;17:857-872.
- Breslow NE, Day NE. Statistical methods in cancer research, vol. II. Lyon: IARC; 1987 (Byar's
  approximation).
- Armitage P, Berry G. Statistical methods in medical research (4th edn). Oxford: Blackwell; 2002
  (exact Poisson limits via chi-squared quantiles).
- Dobson AJ, Kuulasmaa K, Eberle E, Scherer J. Confidence intervals for weighted sums of Poisson
  parameters. Stat Med 1991;10:457-462.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd
from scipy import stats

from iaf.errors import InputError

__all__ = [
    "EXACT_BELOW",
    "byars_ci",
    "confidence_suffix",
    "dsr_dobson",
    "exact_poisson_ci",
    "expected_counts",
    "indicator_cis",
    "isr_ci",
    "mean_ci",
    "phe_mean",
    "poisson_ci",
    "poisson_method",
    "rate_ci",
    "wilson_ci",
]

ArrayLike = np.ndarray | pd.Series | Sequence[float] | float
Confidence = float | Sequence[float]
ValueType = Literal["proportion", "rate", "ratio", "count"]

# PHE switches from the exact Poisson limits to Byar's approximation at 10 events (phe_rate,
# calculate_ISRatio), and suppresses a DSR whose total count is below 10 (calculate_dsr).
EXACT_BELOW = 10
DSR_MIN_COUNT = 10

_MAX_LISTED = 10


# --------------------------------------------------------------------------- boundary helpers


def confidence_suffix(confidence: float) -> str:
    """Column suffix for a confidence level: 0.95 → "95", 0.998 → "998", 0.9 → "90"."""
    _check_confidence(confidence)
    return f"{round(confidence * 100, 10):g}".replace(".", "")


def _positions(mask: np.ndarray) -> str:
    idx = np.flatnonzero(mask)
    shown = ", ".join(str(i) for i in idx[:_MAX_LISTED])
    more = f" and {idx.size - _MAX_LISTED} more" if idx.size > _MAX_LISTED else ""
    noun = "row" if idx.size == 1 else "rows"
    label = "position" if idx.size == 1 else "positions"
    return f"{idx.size} {noun}: {label} {shown}{more}"


def _check_confidence(confidence: Confidence) -> np.ndarray:
    levels = np.atleast_1d(np.asarray(confidence, dtype=float))
    bad = ~((levels > 0) & (levels < 1))
    if levels.ndim != 1 or levels.size == 0 or bad.any():
        raise InputError(
            "confidence must be a level strictly between 0 and 1 (e.g. 0.95, 0.998); "
            f"got {confidence!r}"
        )
    return levels


def _numeric(values: ArrayLike, name: str) -> np.ndarray:
    """Float array; None/pd.NA/NaN become NaN, anything non-numeric is an InputError."""
    raw = values.to_numpy() if isinstance(values, pd.Series) else np.asarray(values)
    if raw.dtype.kind in "fiub":  # already numbers: the fast path for large vectors
        return np.atleast_1d(raw.astype(float))
    series = (
        pd.Series(values, dtype=object) if np.ndim(values) else pd.Series([values], dtype=object)
    )
    coerced = pd.to_numeric(series, errors="coerce")
    unparseable = coerced.isna().to_numpy() & series.notna().to_numpy()
    if unparseable.any():
        raise InputError(f"{name} is not numeric in {_positions(unparseable)}")
    return coerced.to_numpy(dtype=float, na_value=np.nan)


def _check_nonnegative(arr: np.ndarray, name: str) -> None:
    negative = arr < 0
    if negative.any():
        raise InputError(f"{name} is negative in {_positions(negative)}")


def _check_positive(arr: np.ndarray, name: str) -> None:
    nonpositive = arr <= 0
    if nonpositive.any():
        raise InputError(f"{name} is zero or negative in {_positions(nonpositive)}")


def _same_length(**arrays: np.ndarray) -> None:
    lengths = {name: a.size for name, a in arrays.items()}
    if len(set(lengths.values())) > 1:
        described = ", ".join(f"{k} has {v}" for k, v in lengths.items())
        raise InputError(f"inputs must have the same number of rows; {described}")


def _levels_shape(confidence: Confidence) -> np.ndarray:
    """Validated levels as a column (k, 1) when a sequence was given, else a 0-d array."""
    levels = _check_confidence(confidence)
    return levels.reshape(()) if np.ndim(confidence) == 0 else levels.reshape(-1, 1)


def _z(levels: np.ndarray) -> np.ndarray:
    # PHE: z <- qnorm(confidence + (1 - confidence)/2); the same expression keeps z bit-identical.
    return stats.norm.ppf(levels + (1 - levels) / 2)


# --------------------------------------------------------------------------- core methods


def _wilson(x: np.ndarray, n: np.ndarray, levels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    # Wilson 1927 score interval, written exactly as PHE's wilson_lower / wilson_upper.
    z = _z(levels)
    with np.errstate(invalid="ignore", divide="ignore"):
        root = z * np.sqrt(z**2 + 4 * x * (1 - (x / n)))
        lower = (2 * x + z**2 - root) / 2 / (n + z**2)
        upper = (2 * x + z**2 + root) / 2 / (n + z**2)
    # The interval lies within [0, 1] (exactly 1 at x = n), but rounding can leave the upper
    # limit an ulp above 1 (x = n = 64 at 95%: 1.0000000000000002), i.e. above 100%.
    # Likewise the lower limit at x = 0 is exactly 0 (sqrt(z²) can differ from z by an ulp).
    lower = np.where(x == 0, 0.0, lower)
    upper = np.where(x == n, 1.0, upper)
    return np.clip(lower, 0, 1), np.clip(upper, 0, 1)


def _byars(x: np.ndarray, levels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    # Byar's approximation (Breslow & Day 1987), as PHE's byars_lower / byars_upper.
    z = _z(levels)
    # a tiny count overflows the cube to -inf: a negative lower limit, NA below as in PHE
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        lower = x * (1 - 1 / (9 * x) - z / (3 * np.sqrt(x))) ** 3
        upper = (x + 1) * (1 - 1 / (9 * (x + 1)) + z / (3 * np.sqrt(x + 1))) ** 3
    # PHE sets a negative Byar's lower limit (tiny counts, very high confidence) to NA.
    lower = np.where(lower < 0, np.nan, lower)
    return lower, upper


def _exact(x: np.ndarray, levels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    # Exact Poisson limits from chi-squared quantiles (Armitage & Berry), as PHE:
    # qchisq((1-c)/2, 2x)/2 and qchisq(c + (1-c)/2, 2x + 2)/2. qchisq(p, df=0) is 0 in R.
    with np.errstate(invalid="ignore"):
        lower = np.where(x == 0, 0.0, stats.chi2.ppf((1 - levels) / 2, 2 * x) / 2)
        upper = stats.chi2.ppf(levels + (1 - levels) / 2, 2 * x + 2) / 2
    lower = np.where(np.isnan(x), np.nan, lower)
    return lower, upper


def _poisson(x: np.ndarray, levels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    # Fingertips: exact below EXACT_BELOW, Byar's from there. The chi-squared quantiles are
    # costly, so they are computed only for the counts that use them.
    lower, upper = (np.array(a, dtype=float) for a in _byars(x, levels))
    use_exact = np.broadcast_to(x < EXACT_BELOW, lower.shape)
    if use_exact.any():
        lower[use_exact], upper[use_exact] = _exact(
            np.broadcast_to(x, lower.shape)[use_exact],
            np.broadcast_to(levels, lower.shape)[use_exact],
        )
    return lower, upper


def _as_pair(pair: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    lower, upper = pair
    return np.asarray(lower, dtype=float), np.asarray(upper, dtype=float)


# --------------------------------------------------------------------------- public: counts


def wilson_ci(
    x: ArrayLike, n: ArrayLike, confidence: Confidence = 0.95
) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval for a proportion x/n, on the 0–1 scale.

    Parameters
    ----------
    x, n
        Numerators and denominators (x ≤ n, n > 0). NaN in either gives NaN limits.
    confidence
        A level in (0, 1), or a sequence of levels (rows of the result).

    Returns
    -------
    (lower, upper)
        Arrays shaped like ``x`` (scalar confidence) or ``(k, len(x))``.

    References
    ----------
    Wilson 1927; Newcombe 1998; PHEindicatormethods 2.1.0 ``wilson_lower`` / ``wilson_upper``
    (used by ``phe_proportion``).
    """
    xa, na = _numeric(x, "numerator"), _numeric(n, "denominator")
    _same_length(numerator=xa, denominator=na)
    _check_nonnegative(xa, "numerator")
    _check_positive(na, "denominator")
    _check_not_above(xa, na)
    levels = _levels_shape(confidence)
    return _as_pair(_wilson(xa, na, levels))


def _check_not_above(x: np.ndarray, n: np.ndarray) -> None:
    above = x > n
    if above.any():
        raise InputError(f"numerator exceeds denominator in {_positions(above)}")


def byars_ci(x: ArrayLike, confidence: Confidence = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Byar's approximate Poisson interval for a count, on the count scale.

    A negative lower limit (very small counts at high confidence) is NaN, as in PHE. Use
    :func:`poisson_ci` for the Fingertips choice between exact and Byar's.

    References
    ----------
    Breslow & Day 1987; PHEindicatormethods 2.1.0 ``byars_lower`` / ``byars_upper``.
    """
    xa = _numeric(x, "count")
    _check_nonnegative(xa, "count")
    levels = _levels_shape(confidence)
    return _as_pair(_byars(xa, levels))


def exact_poisson_ci(x: ArrayLike, confidence: Confidence = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Exact Poisson interval for a count from chi-squared quantiles, on the count scale.

    References
    ----------
    Armitage & Berry 2002; PHEindicatormethods 2.1.0 ``phe_rate`` (numerators below 10).
    """
    xa = _numeric(x, "count")
    _check_nonnegative(xa, "count")
    levels = _levels_shape(confidence)
    return _as_pair(_exact(xa, levels))


def poisson_ci(x: ArrayLike, confidence: Confidence = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Fingertips Poisson interval for a count: exact for x < 10, Byar's for x ≥ 10.

    References
    ----------
    PHEindicatormethods 2.1.0 ``phe_rate`` and ``calculate_ISRatio``; Fingertips Technical
    Guidance; Breslow & Day 1987; Armitage & Berry 2002.
    """
    xa = _numeric(x, "count")
    _check_nonnegative(xa, "count")
    levels = _levels_shape(confidence)
    return _as_pair(_poisson(xa, levels))


def poisson_method(x: ArrayLike) -> np.ndarray:
    """PHE's method label per count: "Exact" below 10, "Byars" from 10, None where missing."""
    xa = _numeric(x, "count")
    return np.where(np.isnan(xa), None, np.where(xa < EXACT_BELOW, "Exact", "Byars")).astype(object)


def rate_ci(
    x: ArrayLike, n: ArrayLike, confidence: Confidence = 0.95, multiplier: float = 100_000
) -> tuple[np.ndarray, np.ndarray]:
    """Limits for the rate x/n × multiplier (exact below 10 events, Byar's from 10).

    References
    ----------
    PHEindicatormethods 2.1.0 ``phe_rate``; Breslow & Day 1987; Armitage & Berry 2002.
    """
    xa, na = _numeric(x, "numerator"), _numeric(n, "denominator")
    _same_length(numerator=xa, denominator=na)
    _check_nonnegative(xa, "numerator")
    _check_positive(na, "denominator")
    levels = _levels_shape(confidence)
    lower, upper = _poisson(xa, levels)
    # PHE's order of operations: limit / n * multiplier.
    return _as_pair((lower / na * multiplier, upper / na * multiplier))


def isr_ci(
    observed: ArrayLike,
    expected: ArrayLike,
    confidence: Confidence = 0.95,
    refvalue: float = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """Limits for the indirectly standardised ratio observed/expected × refvalue.

    Exact Poisson limits on the observed count below 10, Byar's from 10, divided by the expected
    count. With ``refvalue`` set to the reference rate (sum of reference events / sum of reference
    population × multiplier) these are PHE's ``calculate_ISRate`` limits.

    References
    ----------
    PHEindicatormethods 2.1.0 ``calculate_ISRatio`` / ``calculate_ISRate``; Breslow & Day 1987.
    """
    oa, ea = _numeric(observed, "observed"), _numeric(expected, "expected")
    _same_length(observed=oa, expected=ea)
    _check_nonnegative(oa, "observed")
    _check_positive(ea, "expected")
    levels = _levels_shape(confidence)
    lower, upper = _poisson(oa, levels)
    return _as_pair((lower / ea * refvalue, upper / ea * refvalue))


def expected_counts(
    n: ArrayLike, x_ref: ArrayLike, n_ref: ArrayLike, groups: ArrayLike | None = None
) -> pd.Series:
    """Expected events per group for indirect standardisation: Σ x_ref / n_ref × n.

    Missing reference events or populations count as zero, as PHE's ``na.zero``.

    References
    ----------
    PHEindicatormethods 2.1.0 ``calculate_ISRatio`` (``exp_x``).
    """
    na, xr, nr = _numeric(n, "population"), _numeric(x_ref, "x_ref"), _numeric(n_ref, "n_ref")
    _same_length(population=na, x_ref=xr, n_ref=nr)
    _check_nonnegative(na, "population")
    _check_nonnegative(xr, "x_ref")
    _check_positive(nr, "n_ref")
    contribution = np.nan_to_num(xr) / nr * np.nan_to_num(na)
    key = np.zeros(na.size, dtype=int) if groups is None else np.asarray(groups)
    return (
        pd.Series(contribution)
        .groupby(pd.Series(key), sort=False)
        .agg(lambda s: math.fsum(s))
        .rename("expected")
    )


# --------------------------------------------------------------------------- public: DSR, means


def dsr_dobson(
    x: ArrayLike,
    n: ArrayLike,
    stdpop: ArrayLike,
    groups: ArrayLike | None = None,
    confidence: Confidence = 0.95,
    multiplier: float = 100_000,
) -> pd.DataFrame:
    """Directly standardised rates with Dobson limits, one row per group (e.g. area).

    Inputs are one row per standardisation category (age band) within each group. Missing counts
    are zero (as PHE's ``na.zero``); populations and standard populations must be present. Groups
    whose total count is below 10 get NaN value and limits, as PHE.

    Returns
    -------
    DataFrame indexed by group with ``total_count``, ``total_pop``, ``value``, ``lower_<s>``,
    ``upper_<s>`` for each level (``s`` from :func:`confidence_suffix`), ``method`` ("Dobson").

    References
    ----------
    Dobson et al. 1991; Breslow & Day 1987; PHEindicatormethods 2.1.0 ``calculate_dsr``
    (independent events).
    """
    xa = _numeric(x, "count")
    na = _numeric(n, "population")
    sa = _numeric(stdpop, "standard population")
    _same_length(count=xa, population=na, standard_population=sa)
    _check_nonnegative(xa, "count")
    for arr, name in ((na, "population"), (sa, "standard population")):
        missing = np.isnan(arr)
        if missing.any():
            raise InputError(f"{name} is missing in {_positions(missing)}")
    _check_positive(na, "population")
    _check_nonnegative(sa, "standard population")
    levels = _check_confidence(confidence)

    key = np.zeros(xa.size, dtype=int) if groups is None else np.asarray(groups)
    frame = pd.DataFrame(
        {
            "group": key,
            "x": xa,
            "n": na,
            "stdpop": sa,
            "wt_rate": np.nan_to_num(xa) * sa / na,
            "sq_rate": np.nan_to_num(xa) * (sa / na) ** 2,
        }
    )
    fsum = lambda s: math.fsum(s.dropna())  # noqa: E731 - R's sum accumulates in long double
    agg = frame.groupby("group", sort=False).agg(
        total_count=("x", fsum),
        total_pop=("n", fsum),
        sum_wt=("wt_rate", fsum),
        sum_sq=("sq_rate", fsum),
        sum_std=("stdpop", fsum),
    )
    total = agg["total_count"].to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):  # a group with no standard population
        value = agg["sum_wt"].to_numpy() / agg["sum_std"].to_numpy() * multiplier
        vardsr = 1 / agg["sum_std"].to_numpy() ** 2 * agg["sum_sq"].to_numpy()
    suppressed = total < DSR_MIN_COUNT
    out = agg[["total_count", "total_pop"]].copy()
    out["value"] = np.where(suppressed, np.nan, value)
    with np.errstate(invalid="ignore", divide="ignore"):
        for level in levels:
            blow, bup = _byars(total, np.asarray(level))
            scale = np.sqrt(vardsr / total)
            lower = value + scale * (blow - total) * multiplier
            upper = value + scale * (bup - total) * multiplier
            suffix = confidence_suffix(float(level))
            out[f"lower_{suffix}"] = np.where(suppressed, np.nan, lower)
            out[f"upper_{suffix}"] = np.where(suppressed, np.nan, upper)
    out["method"] = "Dobson"
    out.index.name = "group" if groups is not None else None
    return out


def mean_ci(
    mean: ArrayLike, sd: ArrayLike, count: ArrayLike, confidence: Confidence = 0.95
) -> tuple[np.ndarray, np.ndarray]:
    """Student's t interval for a mean: mean ± t(0.5 + c/2, count − 1) × sd / √count.

    References
    ----------
    PHEindicatormethods 2.1.0 ``phe_mean``; Fingertips Technical Guidance.
    """
    ma, sa, ca = (
        _numeric(mean, "mean"),
        _numeric(sd, "standard deviation"),
        _numeric(count, "count"),
    )
    _same_length(mean=ma, sd=sa, count=ca)
    _check_nonnegative(sa, "standard deviation")
    _check_positive(ca, "count")
    levels = _levels_shape(confidence)
    with np.errstate(invalid="ignore", divide="ignore"):
        # PHE: qt(0.5 + confidence/2, df) * stdev / sqrt(count)
        half = stats.t.ppf(0.5 + levels / 2, ca - 1) * sa / np.sqrt(ca)
    return _as_pair((ma - half, ma + half))


def phe_mean(
    values: ArrayLike, groups: ArrayLike | None = None, confidence: Confidence = (0.95, 0.998)
) -> pd.DataFrame:
    """Means with t-based limits per group, from record-level values (NaN values dropped).

    Returns a frame indexed by group with ``value_sum``, ``value_count``, ``stdev``, ``value``,
    ``lower_<s>``, ``upper_<s>`` and ``method`` ("Student's t-distribution").

    References
    ----------
    PHEindicatormethods 2.1.0 ``phe_mean``.
    """
    va = _numeric(values, "values")
    levels = _check_confidence(confidence)
    key = np.zeros(va.size, dtype=int) if groups is None else np.asarray(groups)
    frame = pd.DataFrame({"group": key, "v": va}).dropna(subset=["v"])
    agg = frame.groupby("group", sort=False)["v"].agg(
        value_sum=lambda s: math.fsum(s), value_count="count", stdev=lambda s: s.std(ddof=1)
    )
    agg["value"] = agg["value_sum"] / agg["value_count"]
    for level in levels:
        lower, upper = mean_ci(agg["value"], agg["stdev"], agg["value_count"], float(level))
        suffix = confidence_suffix(float(level))
        agg[f"lower_{suffix}"] = lower
        agg[f"upper_{suffix}"] = upper
    agg["method"] = "Student's t-distribution"
    agg.index.name = "group" if groups is not None else None
    return agg


# --------------------------------------------------------------------------- tidy helper


def indicator_cis(
    numerator: ArrayLike,
    denominator: ArrayLike | None,
    value_type: ValueType,
    multiplier: float = 1,
    confidence: Confidence = (0.95, 0.998),
) -> pd.DataFrame:
    """Value and Fingertips confidence limits for each row, as a tidy frame.

    ``value_type``:

    - "proportion": numerator/denominator × multiplier, Wilson limits (method "Wilson");
    - "rate": numerator/denominator × multiplier, Poisson limits (exact < 10, Byar's ≥ 10);
    - "ratio": numerator = observed, denominator = expected; ISR × multiplier (the refvalue);
    - "count": the numerator × multiplier with Poisson limits (``denominator`` ignored).

    Returns columns ``value``, ``lower_<s>``, ``upper_<s>`` per confidence level (``s`` from
    :func:`confidence_suffix`: 0.95 → 95, 0.998 → 998), and ``method``. Rows with a missing
    numerator or denominator have NaN value and limits (and no method when the numerator is
    missing), never an exception.

    References
    ----------
    PHEindicatormethods 2.1.0 ``phe_proportion``, ``phe_rate``, ``calculate_ISRatio``;
    Fingertips Technical Guidance.
    """
    if value_type not in ("proportion", "rate", "ratio", "count"):
        raise InputError(
            f"value_type must be one of proportion, rate, ratio, count; got {value_type!r}"
        )
    levels = _check_confidence(confidence)
    x = _numeric(numerator, "numerator")
    _check_nonnegative(x, "numerator")
    if value_type == "count":
        n = np.ones_like(x)
    else:
        if denominator is None:
            raise InputError(f"a denominator is required for value_type {value_type!r}")
        n = _numeric(denominator, "expected" if value_type == "ratio" else "denominator")
        _same_length(numerator=x, denominator=n)
        _check_positive(n, "expected" if value_type == "ratio" else "denominator")
    if value_type == "proportion":
        _check_not_above(x, n)

    with np.errstate(invalid="ignore", divide="ignore"):
        value = x / n * multiplier
    out = pd.DataFrame({"value": value})
    for level in levels:
        lv = np.asarray(level)
        if value_type == "proportion":
            lower, upper = _wilson(x, n, lv)
            lower, upper = lower * multiplier, upper * multiplier
        else:
            lower, upper = _poisson(x, lv)
            lower, upper = lower / n * multiplier, upper / n * multiplier
        suffix = confidence_suffix(float(level))
        out[f"lower_{suffix}"] = np.where(np.isnan(value), np.nan, lower)
        out[f"upper_{suffix}"] = np.where(np.isnan(value), np.nan, upper)
    if value_type == "proportion":
        method = np.where(np.isnan(x), None, "Wilson").astype(object)
    else:
        method = poisson_method(x)
    out["method"] = pd.array(method, dtype="string")
    if isinstance(numerator, pd.Series):
        out.index = numerator.index
    return out
