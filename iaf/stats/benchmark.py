"""Fingertips comparisons: area vs benchmark, funnel-plot significance and limits, quantiles.

Each function reproduces PHEindicatormethods 2.1.0 (the Fingertips methods) and is vectorised over
numpy arrays / pandas Series. Invalid input raises :class:`iaf.errors.InputError` naming the
argument and the rows; missing input gives a "not compared" label or a missing quantile, never
an exception.

References
----------
- PHEindicatormethods 2.1.0 (UKHSA/OHID), commit 093fd288: R/Funnels.R
  (``calculate_funnel_limits``, ``assign_funnel_significance``, ``sigma_adjustment``),
  R/utils.R (``poisson_cis``, ``poisson_funnel``, ``funnel_ratio_significance``, ported from PHE's
  Excel funnel-plot macro), R/Quantiles.R (``phe_quantile``).
- Fingertips Public Health Technical Guidance: "Comparing an indicator value with a benchmark",
  "Funnel plots" and "Assigning deprivation categories"
  (https://fingertips.phe.org.uk/profile/guidance).
- Breslow NE, Day NE. Statistical methods in cancer research, vol. II. IARC; 1987 (Byar's method).
- Spiegelhalter DJ. Funnel plots for comparing institutional performance. Stat Med
  2005;24:1185-1202. doi:10.1002/sim.1970.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise
from typing import Literal

import numpy as np
import pandas as pd
from scipy import stats

from iaf.errors import InputError
from iaf.stats.ci import _numeric, _positions, _same_length

__all__ = [
    "FUNNEL_LABELS",
    "assign_funnel_significance",
    "compare_with_benchmark",
    "funnel_limits",
    "phe_quantile",
]

ArrayLike = np.ndarray | pd.Series | Sequence[float] | float
Polarity = Literal["higher_is_better", "lower_is_better", "no_judgement"]
Statistic = Literal["proportion", "ratio", "rate"]

NOT_COMPARED = "not compared"
_POLARITY_MAP = {
    "higher_is_better": {"higher": "better", "lower": "worse"},
    "lower_is_better": {"higher": "worse", "lower": "better"},
    "no_judgement": {"higher": "higher", "lower": "lower"},
}

# PHE's funnel functions fix their two control limits at these one-sided tail probabilities
# (2 and 3 sigma: the 95% and 99.8% limits); they are hard-coded in PHEindicatormethods.
_P_2S, _P_3S = 0.975, 0.999
_TAIL_2S, _TAIL_3S = 0.025, 0.001
_CONF_2S, _CONF_3S = 0.95, 0.998
FUNNEL_LABELS = (
    "High (0.001)",
    "High (0.025)",
    "Low (0.001)",
    "Low (0.025)",
    "Not significant",
    "Not applicable for events less than 10 for dsrs",
)
_DSR_MIN_EVENTS = 10
# Convergence constants of PHE's Excel funnel macro (poisson_cis / poisson_funnel).
_SERIES_REL_TOL = 1e-10
_RESCALE_AT = 1e30
_BISECTION_STOP = 1e-7
_UPPER_UNBOUNDED = 10_000_000_000


# --------------------------------------------------------------------------- benchmark


def compare_with_benchmark(
    lower: ArrayLike, upper: ArrayLike, benchmark: ArrayLike, polarity: Polarity
) -> np.ndarray:
    """Fingertips comparison of each area's confidence interval with a benchmark value.

    "higher" when the lower limit is strictly above the benchmark, "lower" when the upper limit
    is strictly below it, otherwise "similar"; "not compared" when any input is missing. The
    polarity maps higher/lower to "better"/"worse" ("higher_is_better", "lower_is_better");
    "no_judgement" keeps "higher"/"lower".

    The comparison is strict: Fingertips calls a difference significant when the interval does
    not include (overlap) the benchmark, so an interval that touches it is "similar". PHE's own
    code uses the same strict tests (``assign_funnel_significance``: ``1 < lower`` is "High").

    References
    ----------
    Fingertips Public Health Technical Guidance, "Comparing an indicator value with a benchmark";
    PHEindicatormethods 2.1.0 ``assign_funnel_significance``.
    """
    if polarity not in _POLARITY_MAP:
        raise InputError(f"polarity must be one of {', '.join(_POLARITY_MAP)}; got {polarity!r}")
    lo, up = _numeric(lower, "lower"), _numeric(upper, "upper")
    _same_length(lower=lo, upper=up)
    bench = np.broadcast_to(_numeric(benchmark, "benchmark"), lo.shape)
    reversed_ = lo > up
    if reversed_.any():
        raise InputError(f"lower exceeds upper in {_positions(reversed_)}")
    names = _POLARITY_MAP[polarity]
    missing = np.isnan(lo) | np.isnan(up) | np.isnan(bench)
    out = np.select(
        [missing, lo > bench, up < bench],
        [NOT_COMPARED, names["higher"], names["lower"]],
        default="similar",
    )
    return out.astype(object)


# --------------------------------------------------------------------------- PHE funnel maths


def _sigma_adjustment(
    p: float, population: np.ndarray, average: float, side: str, multiplier: float
) -> np.ndarray:
    # PHE sigma_adjustment: the Wilson score limit solved for the proportion at which an area
    # of this size sits exactly on the limit around the average. Written as PHE writes it.
    q2 = stats.norm.ppf(p) ** 2
    first_part = average * (population / q2 + 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        adj = np.sqrt(
            (-8 * average * (population / q2 + 1)) ** 2
            - 64
            * (1 / q2 + 1 / population)
            * average
            * (population * (average * (population / q2 + 2) - 1) + q2 * (average - 1))
        )
        last_part = 1 / q2 + 1 / population
        sign = -1 if side == "low" else 1
        adj_return = (first_part + sign * adj / 8) / last_part
        return (adj_return / population) * multiplier


def _poisson_cis(z: np.ndarray, x_a: np.ndarray, x_b: np.ndarray) -> np.ndarray:
    """P(x_a ≤ K ≤ x_b) for K ~ Poisson(z), summed term by term as PHE's Excel macro does."""
    q = np.ones_like(z)
    tot = np.zeros_like(z)
    s = np.zeros_like(z)
    k = 0.0
    active = np.ones(z.shape, dtype=bool)
    while active.any():
        tot = np.where(active, tot + q, tot)
        s = np.where(active & (k >= x_a) & (k <= x_b), s + q, s)
        big = active & (tot > _RESCALE_AT)
        s = np.where(big, s / _RESCALE_AT, s)
        tot = np.where(big, tot / _RESCALE_AT, tot)
        q = np.where(big, q / _RESCALE_AT, q)
        k += 1
        q = np.where(active, q * z / k, q)
        active = active & ((k <= z) | (q > tot * _SERIES_REL_TOL))
    return s / tot


def _poisson_funnel(obs: np.ndarray, p: np.ndarray, high: np.ndarray) -> np.ndarray:
    """PHE poisson_funnel: bisect for the Poisson mean whose tail probability at obs equals p."""
    v = np.full(obs.shape, 0.5)
    dv = 0.5
    x_a = np.where(high, 0.0, obs)
    x_b = np.where(high, obs, float(_UPPER_UNBOUNDED))
    while dv > _BISECTION_STOP:
        dv /= 2
        tail = _poisson_cis((1 + obs) * v / (1 - v), x_a, x_b)
        go_down = np.where(high, tail < p, tail > p)
        v = np.where(go_down, v - dv, v + dv)
    return (1 + obs) * v / (1 - v)


def _funnel_ratio_significance(
    obs: np.ndarray, expected: np.ndarray, p: float, side: str
) -> np.ndarray:
    # PHE funnel_ratio_significance: exact chi-squared limits below 10 events, Byar's from 10,
    # each divided by the expected count (or the derived denominator for rates).
    with np.errstate(invalid="ignore", divide="ignore"):
        if side == "low":
            exact = stats.chi2.isf(0.5 + p / 2, 2 * obs) / 2
            exact = np.where(obs == 0, 0.0, exact)
            byars = obs * (1 - 1 / (9 * obs) - stats.norm.ppf(0.5 + p / 2) / 3 / np.sqrt(obs)) ** 3
        else:
            exact = stats.chi2.ppf(0.5 + p / 2, 2 * obs + 2) / 2
            adj = obs + 1
            byars = adj * (1 - 1 / (9 * adj) + stats.norm.ppf(0.5 + p / 2) / 3 / np.sqrt(adj)) ** 3
        return np.where(obs < 10, exact, byars) / expected


def _r_nchar(value: float) -> int:
    """nchar() of a whole number as R prints it: R switches to e-notation when that is shorter."""
    if value == 0:
        return 1
    digits = str(int(value))
    significant = digits.rstrip("0")
    mantissa = len(significant) + (1 if len(significant) > 1 else 0)
    exponent = len(digits) - 1
    scientific = mantissa + 2 + max(2, len(str(exponent)))
    return min(len(digits), scientific)


def _signif_floor(x: float, percentage_down: float = 0.95) -> float:
    # PHE's axis rounding helpers, including their use of nchar() on R's printed number.
    if x == 0:
        return 0.0
    n = _r_nchar(np.floor(x * percentage_down)) - 1
    return float(np.floor(x * percentage_down / 10**n) * 10**n)


def _signif_ceiling(x: float, percentage_up: float = 1.05) -> float:
    if x == 0:
        return 0.0
    n = _r_nchar(np.ceil(x * percentage_up)) - 2
    return float(np.ceil(x * percentage_up / 10**n) * 10**n)


def _statistic(value: str) -> Statistic:
    if value not in ("proportion", "ratio", "rate"):
        raise InputError(f"statistic must be one of proportion, ratio, rate; got {value!r}")
    return value  # type: ignore[return-value]


def _derived_denominator(
    numerator: np.ndarray,
    denominator: np.ndarray | None,
    rate: np.ndarray,
    rate_type: str,
    multiplier: float,
    *,
    multiplier_first: bool,
) -> np.ndarray:
    # PHE derives a rate's denominator from the numerator and the rate: NA for zero events in a
    # DSR, the given denominator for zero events in a crude rate. calculate_funnel_limits writes
    # multiplier * x / rate and assign_funnel_significance writes x / rate * multiplier.
    with np.errstate(invalid="ignore", divide="ignore"):
        derived = (
            multiplier * numerator / rate if multiplier_first else numerator / rate * multiplier
        )
    if rate_type == "dsr":
        return np.where(numerator == 0, np.nan, derived)
    if denominator is None:
        if (numerator == 0).any():
            raise InputError(
                "a denominator is required for crude rates when an area has 0 events "
                f"({_positions(numerator == 0)})"
            )
        return derived
    return np.where(numerator == 0, denominator, derived)


def _rate_inputs(
    numerator: np.ndarray,
    denominator: ArrayLike | None,
    rate: ArrayLike | None,
    rate_type: str | None,
    multiplier: float | None,
) -> tuple[np.ndarray | None, np.ndarray, str, float]:
    if rate is None or rate_type is None or multiplier is None:
        raise InputError("rates need rate, rate_type ('dsr' or 'crude') and multiplier")
    if rate_type not in ("dsr", "crude"):
        raise InputError(f"rate_type must be 'dsr' or 'crude'; got {rate_type!r}")
    rate_arr = _numeric(rate, "rate")
    _same_length(numerator=numerator, rate=rate_arr)
    den = None if denominator is None else _numeric(denominator, "denominator")
    return den, rate_arr, rate_type, float(multiplier)


# --------------------------------------------------------------------------- significance


def assign_funnel_significance(
    numerator: ArrayLike,
    denominator: ArrayLike | None,
    statistic: Statistic,
    rate: ArrayLike | None = None,
    rate_type: Literal["dsr", "crude"] | None = None,
    multiplier: float | None = None,
) -> np.ndarray:
    """Funnel-plot significance of each area against the all-area average, as PHE.

    - "proportion": the area's proportion against PHE's Wilson-based funnel limits around
      Σnumerator/Σdenominator at its denominator (``sigma_adjustment``).
    - "ratio": numerator = observed, denominator = expected; the area's 95%/99.8% limits of
      observed/expected (exact < 10 events, Byar's ≥ 10) against 1.
    - "rate": the area's limits of events/derived denominator against the weighted average rate;
      ``rate`` is the published rate (crude or DSR) and the denominator is derived as
      numerator / rate × multiplier. DSRs with fewer than 10 events are "Not applicable for
      events less than 10 for dsrs".

    Labels are PHE's: "High (0.001)", "High (0.025)", "Low (0.001)", "Low (0.025)",
    "Not significant". Rows with a missing numerator or denominator get "not compared" and are
    left out of the average (PHE would return NA for every row).

    References
    ----------
    PHEindicatormethods 2.1.0 ``assign_funnel_significance``; Fingertips Technical Guidance,
    "Funnel plots"; Spiegelhalter 2005.
    """
    statistic = _statistic(statistic)
    num = _numeric(numerator, "numerator")
    if (num < 0).any():
        raise InputError(f"numerator is negative in {_positions(num < 0)}")

    if statistic == "rate":
        den, rate_arr, rate_type, mult = _rate_inputs(num, denominator, rate, rate_type, multiplier)
        if den is not None:
            _same_length(numerator=num, denominator=den)
        missing = np.isnan(num) | np.isnan(rate_arr)
        derived = _derived_denominator(num, den, rate_arr, rate_type, mult, multiplier_first=False)
        keep = ~missing
        average = num[keep].sum() / np.nansum(derived[keep])
        labels = _label(
            average < _funnel_ratio_significance(num, derived, _CONF_3S, "low"),
            average < _funnel_ratio_significance(num, derived, _CONF_2S, "low"),
            average > _funnel_ratio_significance(num, derived, _CONF_3S, "high"),
            average > _funnel_ratio_significance(num, derived, _CONF_2S, "high"),
        )
        if rate_type == "dsr":
            labels = np.where(num < _DSR_MIN_EVENTS, FUNNEL_LABELS[5], labels)
        return np.where(missing, NOT_COMPARED, labels).astype(object)

    if denominator is None:
        raise InputError(f"a denominator is required for statistic {statistic!r}")
    den = _numeric(denominator, "denominator")
    _same_length(numerator=num, denominator=den)
    if (den <= 0).any():
        raise InputError(f"denominator is zero or negative in {_positions(den <= 0)}")
    missing = np.isnan(num) | np.isnan(den)
    if statistic == "proportion":
        if (num > den).any():
            raise InputError(f"numerator exceeds denominator in {_positions(num > den)}")
        keep = ~missing
        average = num[keep].sum() / den[keep].sum()
        with np.errstate(invalid="ignore", divide="ignore"):
            value = num / den
        labels = _label(
            value < _sigma_adjustment(_P_3S, den, average, "low", 1),
            value < _sigma_adjustment(_P_2S, den, average, "low", 1),
            value > _sigma_adjustment(_P_3S, den, average, "high", 1),
            value > _sigma_adjustment(_P_2S, den, average, "high", 1),
            order="low_first",
        )
    else:
        labels = _label(
            _funnel_ratio_significance(num, den, _CONF_3S, "low") > 1,
            _funnel_ratio_significance(num, den, _CONF_2S, "low") > 1,
            _funnel_ratio_significance(num, den, _CONF_3S, "high") < 1,
            _funnel_ratio_significance(num, den, _CONF_2S, "high") < 1,
        )
    return np.where(missing, NOT_COMPARED, labels).astype(object)


def _label(
    first: np.ndarray,
    second: np.ndarray,
    third: np.ndarray,
    fourth: np.ndarray,
    order: str = "high_first",
) -> np.ndarray:
    # PHE's case_when order: ratios/rates test High (0.001), High (0.025), Low (0.001),
    # Low (0.025); proportions test Low (0.001), Low (0.025), High (0.001), High (0.025).
    # NaN comparisons are False, as NA conditions are in dplyr::case_when.
    if order == "high_first":
        names = ["High (0.001)", "High (0.025)", "Low (0.001)", "Low (0.025)"]
    else:
        names = ["Low (0.001)", "Low (0.025)", "High (0.001)", "High (0.025)"]
    return np.select([first, second, third, fourth], names, default="Not significant")


# --------------------------------------------------------------------------- limits


def funnel_limits(
    numerator: ArrayLike,
    denominator: ArrayLike | None,
    statistic: Statistic,
    multiplier: float,
    rate: ArrayLike | None = None,
    ratio_type: Literal["count", "isr"] | None = None,
    rate_type: Literal["dsr", "crude"] | None = None,
    years_of_data: float | None = None,
) -> pd.DataFrame:
    """PHE's 100-point grid of 95% (2s) and 99.8% (3s) funnel control limits for plotting.

    Columns follow PHE's ``calculate_funnel_limits`` (type = "full"):

    - proportion: Population, lower_2s_limit, upper_2s_limit, lower_3s_limit, upper_3s_limit,
      baseline, statistic, method ("Wilson");
    - ratio: Observed_events and, for each limit, the expected events at which that many
      observed events sit on it (``*_exp_events``); limits × 100 for "isr", − 1 for "count";
      method "Poisson";
    - rate: Events, the one-year population at which that many events sit on each limit
      (``*_population_1_year``), limits per ``multiplier``, baseline; method "Poisson".

    Departure from PHE: proportion limits are capped at ``multiplier`` (PHE caps at 100, which is
    the same for percentages, the only case PHE documents).

    References
    ----------
    PHEindicatormethods 2.1.0 ``calculate_funnel_limits``, ``sigma_adjustment``,
    ``poisson_funnel``; Fingertips Technical Guidance, "Funnel plots"; Spiegelhalter 2005.
    """
    statistic = _statistic(statistic)
    num = _numeric(numerator, "numerator")
    if (num < 0).any():
        raise InputError(f"numerator is negative in {_positions(num < 0)}")
    if statistic == "rate":
        if years_of_data is None:
            raise InputError("rates need years_of_data")
        den, rate_arr, rate_type, mult = _rate_inputs(num, denominator, rate, rate_type, multiplier)
        den_derived = _derived_denominator(
            num, den, rate_arr, rate_type, mult, multiplier_first=True
        )
    else:
        if denominator is None:
            raise InputError(f"a denominator is required for statistic {statistic!r}")
        if statistic == "ratio" and ratio_type not in ("count", "isr"):
            raise InputError(f"ratio_type must be 'count' or 'isr'; got {ratio_type!r}")
        den_derived = _numeric(denominator, "denominator")
        _same_length(numerator=num, denominator=den_derived)
        if (den_derived <= 0).any():
            raise InputError(f"denominator is zero or negative in {_positions(den_derived <= 0)}")

    keep = ~np.isnan(num) & ~np.isnan(den_derived)
    if not keep.any():
        raise InputError("funnel limits need at least one row with a numerator and denominator")
    av = num[~np.isnan(num)].sum() / np.nansum(den_derived)
    min_den, max_den = np.nanmin(den_derived), np.nanmax(den_derived)

    if max_den > 2 * min_den:
        axis_min = 0.0
    elif statistic == "rate":
        axis_min = _signif_floor(min_den / years_of_data) * years_of_data
    else:
        axis_min = _signif_floor(min_den)
    if statistic == "rate":
        axis_max = _signif_ceiling(max_den / years_of_data) * years_of_data
        axis_min = float(np.floor(axis_min * av))
        axis_max = float(np.ceil(axis_max * av))
    else:
        axis_max = _signif_ceiling(max_den)

    # PHE spaces the 100 points geometrically (denser for small denominators), each at least
    # one more than the last; ratios use a shifted exponent.
    offset_shift = 1 if statistic == "ratio" else 0
    points = [max(1.0, axis_min)]
    for j in range(2, 101):
        previous = points[-1]
        step = (axis_max / previous) ** (1 / (101 - (j - offset_shift))) * previous
        points.append(max(float(np.round(step)), previous + 1))
    x = np.asarray(points)

    if statistic == "proportion":
        cap = multiplier
        out = pd.DataFrame(
            {
                "Population": x,
                "lower_2s_limit": np.maximum(0, _sigma_adjustment(_P_2S, x, av, "low", multiplier)),
                "upper_2s_limit": np.minimum(
                    cap, _sigma_adjustment(_P_2S, x, av, "high", multiplier)
                ),
                "lower_3s_limit": np.maximum(0, _sigma_adjustment(_P_3S, x, av, "low", multiplier)),
                "upper_3s_limit": np.minimum(
                    cap, _sigma_adjustment(_P_3S, x, av, "high", multiplier)
                ),
                "baseline": av * multiplier,
                "statistic": "proportion",
                "method": "Wilson",
            }
        )
        return out

    bounds = _funnel_bounds(x)
    if statistic == "ratio":
        out = pd.DataFrame({"Observed_events": x})
        for name, expected in bounds.items():
            out[f"{name}_exp_events"] = expected
            out[f"{name}_limit"] = x / expected
        limits = [c for c in out.columns if c.endswith("limit")]
        out[limits] = out[limits] * 100 if ratio_type == "isr" else out[limits] - 1
        out["statistic"] = f"ratio ({ratio_type})"
        out["method"] = "Poisson"
        return out

    out = pd.DataFrame({"Events": x})
    for name, expected in bounds.items():
        population = expected / av
        out[f"{name}_limit"] = x / population * multiplier
        out[f"{name}_population_1_year"] = population / years_of_data
    out["baseline"] = av * multiplier
    out["statistic"] = f"rate ({rate_type} per {multiplier:,.0f})"
    out["method"] = "Poisson"
    return out


def _funnel_bounds(x: np.ndarray) -> dict[str, np.ndarray]:
    """Expected counts at which x observed events sit on each of PHE's four funnel limits."""
    specs = {
        "lower_2s": (_TAIL_2S, True),
        "upper_2s": (_TAIL_2S, False),
        "lower_3s": (_TAIL_3S, True),
        "upper_3s": (_TAIL_3S, False),
    }
    obs = np.tile(x, len(specs))
    p = np.repeat([tail for tail, _ in specs.values()], x.size)
    high = np.repeat([high for _, high in specs.values()], x.size)
    solved = _poisson_funnel(obs, p, high).reshape(len(specs), x.size)
    return dict(zip(specs, solved, strict=True))


# --------------------------------------------------------------------------- quantiles


def phe_quantile(
    values: ArrayLike,
    nquantiles: int = 10,
    invert: bool = False,
    groups: ArrayLike | None = None,
) -> pd.arrays.IntegerArray:
    """Assign each value to a quantile within its group, by PHE's method.

    rank = rank(value, ties "min"); quantile = floor((q + 1) − ceiling(((N + 1) − rank) / (N / q)))
    with 0 mapped to 1, where N counts the non-missing values in the group. With ``invert`` the
    values are taken as max − value, so quantile 1 holds the highest values. Missing values get
    no quantile, and neither does any value in a group with fewer non-missing values than
    ``nquantiles`` (PHE warns and returns NA there).

    Returns a pandas nullable ``Int64`` array (integers with missing values), aligned with
    ``values``. Note PHE's own default is ``invert = TRUE``; here it is ``False``.

    References
    ----------
    PHEindicatormethods 2.1.0 ``phe_quantile``; Fingertips Technical Guidance, "Assigning
    deprivation categories".
    """
    if isinstance(nquantiles, bool) or not isinstance(nquantiles, (int, np.integer)):
        raise InputError(f"nquantiles must be a whole number; got {nquantiles!r}")
    if nquantiles < 1:
        raise InputError(f"nquantiles must be at least 1; got {nquantiles}")
    vals = _numeric(values, "values")
    key = np.zeros(vals.size, dtype=int) if groups is None else np.asarray(groups)
    if key.size != vals.size:
        raise InputError(
            f"groups must have one entry per value; values has {vals.size}, groups {key.size}"
        )
    count, rank = _grouped_min_rank(vals, key, invert)
    quantile = _quantile_of_rank(count, rank, nquantiles)
    # built from values and mask: going through an object array of None costs seconds at scale
    missing = np.isnan(quantile)
    return pd.arrays.IntegerArray(np.where(missing, 0, quantile).astype(np.int64), missing)


def _quantile_of_rank(count: np.ndarray, rank: np.ndarray, nquantiles: int) -> np.ndarray:
    """PHE's quantile of a min rank among ``count`` values (NaN: none), as ``phe_quantile``."""
    with np.errstate(invalid="ignore", divide="ignore"):
        quantile = np.floor((nquantiles + 1) - np.ceil(((count + 1) - rank) / (count / nquantiles)))
    quantile = np.where(count < nquantiles, np.nan, quantile)
    return np.where(quantile == 0, 1, quantile)


def _row_quantiles(
    vals: np.ndarray, nquantiles: int, invert: bool
) -> tuple[np.ndarray, np.ndarray]:
    """``phe_quantile`` of a 2-D array whose rows are the groups: (quantiles, missing).

    The fast route for groups laid out as rows (an area × period grid, transposed). PHE's
    quantile only grows with the min rank, and the min rank with the value, so each group
    needs just its ``nquantiles`` − 1 cut values: when the ranks 1..m_j fall below quantile j,
    a value reaches j exactly when the m_j-th smallest value is below it (when m_j = 0,
    always). One sort of all rows finds the cut values; no per-value rank is made.
    Counts, ``max − value`` and the quantile of each rank are the numbers ``phe_quantile``
    makes, so the quantiles are identical.
    """
    n_rows, width = vals.shape
    count = np.count_nonzero(~np.isnan(vals), axis=1).astype(float)[:, None]
    adj = vals
    if invert:
        top = np.fmax.reduce(vals, axis=1, initial=-np.inf)  # max of the non-missing
        top[count[:, 0] == 0] = np.nan
        with np.errstate(invalid="ignore", over="ignore"):
            adj = top[:, None] - vals
    ordered = np.sort(adj, axis=1)  # NaN last
    rank = np.arange(1, width + 1, dtype=float)
    of_rank = _quantile_of_rank(count, rank, nquantiles)
    of_rank[rank > count] = np.nan  # no such rank in this group
    quantile = np.ones(adj.shape, dtype=np.int8)
    for j in range(2, nquantiles + 1):
        below = np.count_nonzero(of_rank < j, axis=1)  # m_j: ranks 1..m_j are below j
        cut = ordered[np.arange(n_rows), np.maximum(below - 1, 0)][:, None]
        quantile += (adj > cut) | (below == 0)[:, None]
    missing = np.isnan(adj) | (count < nquantiles)
    quantile[missing] = 0
    return quantile, missing


def _grouped_min_rank(
    vals: np.ndarray, key: np.ndarray, invert: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Per value: its group's count of non-missing values, and its rank (ties "min", NaN kept)
    within the group, of the value or (``invert``) of the group's max − value.

    Equal to pandas' grouped count / max / rank(method="min"), worked on one sort of the
    (group, value) pairs rather than hashing the groups three times.
    """
    small = key.dtype.kind in "iu" and (not key.size or 0 <= key.min() <= key.max() < 4 * key.size)
    if small:  # already integer codes: used as they are
        codes, n_groups = key, (int(key.max()) + 1 if key.size else 0)
    else:
        codes, uniques = pd.factorize(key)
        n_groups = len(uniques)
    no_group = codes < 0  # a missing group is no group, as groupby's dropna has it
    if no_group.any():
        vals = np.where(no_group, np.nan, vals)
        codes = np.where(no_group, 0, codes)
    valid = ~np.isnan(vals)
    per_group = np.bincount(codes[valid], minlength=n_groups)
    count = per_group[codes].astype(float)
    adj = vals
    if invert:
        top = np.full(n_groups, np.nan)
        has = per_group > 0
        top_valid = np.full(n_groups, -np.inf)
        np.maximum.at(top_valid, codes[valid], vals[valid])
        top[has] = top_valid[has]
        adj = top[codes] - vals
    rank = np.full(vals.size, np.nan)
    rows = np.flatnonzero(~np.isnan(adj))
    if rows.size:
        g, a = codes[rows], adj[rows]
        if n_groups <= 2**16:
            # by group (a radix sort of 16-bit codes), then each group's values on their own:
            # a few thousand small sorts cost far less than one lexsort of millions of pairs
            order = np.argsort(g.astype(np.uint16), kind="stable")
            a = a[order]
            bounds = np.r_[0, np.cumsum(np.bincount(g, minlength=n_groups))]
            for lo, hi in pairwise(bounds):
                if hi - lo > 1:
                    within = np.argsort(a[lo:hi])
                    a[lo:hi] = a[lo:hi][within]
                    order[lo:hi] = order[lo:hi][within]
            g = g[order]
        else:
            order = np.lexsort((a, g))
            g, a = g[order], a[order]
        position = np.arange(rows.size)
        new_group = np.r_[True, g[1:] != g[:-1]]
        new_value = new_group | np.r_[True, a[1:] != a[:-1]]
        group_start = np.maximum.accumulate(np.where(new_group, position, 0))
        value_start = np.maximum.accumulate(np.where(new_value, position, 0))
        rank[rows[order]] = (value_start - group_start + 1).astype(float)
    if no_group.any():
        count = np.where(no_group, np.nan, count)
    return count, rank
