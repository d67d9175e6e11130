"""Funnel plots with overdispersion, reproducing FunnelPlotR 0.6.0 (Spiegelhalter 2005).

Each unit's indicator is transformed (arcsine-square-root for proportions ``"PR"``, log for
standardised ratios ``"SR"`` with the SHMI method, square root with the CQC method, log of the
continuity-corrected ratio for ratios of counts ``"RC"``) and turned into a z-score against the
funnel's target. The z-scores are winsorised (CQC, PR, RC) or truncated (SHMI) at ``trim`` in each
tail, the dispersion ratio is ``phi = mean(z²)`` and the between-unit variance ``tau²`` is the
DerSimonian–Laird estimate. Limits are widened by ``tau²`` only when it is positive — FunnelPlotR's
rule, which is ``n·phi > n − 1``; otherwise the unadjusted limits are in effect (exact Poisson for
SR, the transformed normal approximation for PR and RC).

Departure from FunnelPlotR (the one deliberate one)
    FunnelPlotR 0.6.0 draws CQC (``sr_method="CQC"``) overdispersed limits on the square-root scale
    and never back-transforms them, so it plots ``1 ± z·sqrt(1/(4E) + tau²)`` against a ratio on
    the natural scale (its open issue #33). By default (``cqc_squared_limits=True``) we square them:
    ``(max(0, 1 − z·sd))²`` and ``(1 + z·sd)²`` with ``sd = sqrt(1/(4E) + tau²)``, flooring the root
    at zero because a square root cannot be negative. ``cqc_squared_limits=False`` reproduces the
    package exactly, including its outlier flags.

Other behaviour worth knowing (all as FunnelPlotR does it)
    * Duplicate groups are summed before anything else.
    * Groups whose denominator sums to zero or is missing are dropped, and named in ``dropped``.
    * SHMI rounds each expected count to 2 decimal places for the transform and the limits; the
      ratio (``value``) still uses the unrounded expected.
    * The z constants are FunnelPlotR's hard-coded 1.959964 and 3.090232; exact Poisson limits use
      chi-squared quantiles at 2.5%/97.5% and 0.1%/99.9%.
    * PR limits whose angle leaves [0, π/2] are truncated to 0 (lower) or 1 (upper) where they stop
      being monotone against the next denominator on FunnelPlotR's lookup grid (1,000 points from 3
      to the ceiling of the largest denominator, plus the data's denominators).
    * With ``adjust=False`` phi and tau² are not estimated and are reported as 0.
    * A funnel of one unit cannot estimate a between-unit variance: tau² is 0 (FunnelPlotR would
      divide by zero).

References
----------
Spiegelhalter DJ (2005). Funnel plots for comparing institutional performance. Statistics in
Medicine 24:1185–1202. doi:10.1002/sim.1970
Spiegelhalter DJ, Sherlaw-Johnson C, Bardsley M et al. (2012). Statistical methods for healthcare
regulation: rating, screening and surveillance. JRSS A 175:1–47.
doi:10.1111/j.1467-985X.2011.01010.x
DerSimonian R, Laird N (1986). Meta-analysis in clinical trials. Controlled Clinical Trials
7:177–188. doi:10.1016/0197-2456(86)90046-2
NHS Digital. Summary Hospital-level Mortality Indicator (SHMI) methodology (truncation, rounding).
Wiles C (2023). FunnelPlotR 0.6.0, https://github.com/nhs-r-community/FunnelPlotR (issue #33: CQC).
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import special

from iaf.errors import InputError

__all__ = ["FunnelResult", "funnel", "funnel_by", "polarity_concern"]

DataType = Literal["PR", "SR", "RC"]
SrMethod = Literal["SHMI", "CQC"]

# FunnelPlotR hard-codes these two-sided normal quantiles to 7 significant figures
# (qnorm(0.975), qnorm(0.999)); using them, not scipy's full-precision values, is what reproduces
# its limits to 1e-9.
Z_95_FUNNELPLOTR = 1.959964
Z_998_FUNNELPLOTR = 3.090232
_Z = {"95": Z_95_FUNNELPLOTR, "998": Z_998_FUNNELPLOTR}
# Upper-tail probability for each band's exact Poisson limits (two-sided 95% and 99.8%).
_ALPHA = {"95": 0.025, "998": 0.001}
_LIMITS = {95.0: "95", 99.8: "998"}
# FunnelPlotR's lookup grid for PR limits: 1,000 points from 3 to ceiling(max denominator).

_LIMIT_COLUMNS = [f"{side}_{band}" for band in ("95", "998") for side in ("lower", "upper")]
_POINT_COLUMNS = [
    "group",
    "numerator",
    "denominator",
    "value",
    "target",
    "y",
    "z",
    "z_winsorised",
    "trimmed",
    *_LIMIT_COLUMNS,
    *(f"unadjusted_{c}" for c in _LIMIT_COLUMNS),
    *(f"adjusted_{c}" for c in _LIMIT_COLUMNS),
    "outlier",
]
_OUTLIER_LABELS = ["", "high", "low"]


@dataclass(frozen=True, eq=False)
class FunnelResult:
    """One funnel: a row per group and the funnel's overdispersion estimates.

    ``points`` columns: ``group``, ``numerator``, ``denominator`` (SHMI-rounded when that applies),
    ``value`` (the ratio × multiplier, on the limits' scale), ``target`` (centre line × multiplier),
    ``y`` (transformed value), ``z`` (unadjusted z-score), ``z_winsorised`` (winsorised z, NaN where
    SHMI truncated it), ``trimmed`` (winsorised or truncated), ``lower_95``/``upper_95``/
    ``lower_998``/``upper_998`` (the limits in effect at the unit's denominator), the same with
    ``unadjusted_`` and ``adjusted_`` prefixes, and ``outlier`` ("high", "low" or "") against the
    chosen ``limit``.
    """

    points: pd.DataFrame
    phi: float
    tau2: float
    adjusted: bool
    target: float
    data_type: str
    dropped: tuple[Any, ...] = ()
    sr_method: str = "SHMI"
    limit: float = 99.8
    multiplier: float = 1.0
    cqc_squared_limits: bool = True

    def limits_grid(self, n_points: int = 200) -> pd.DataFrame:
        """Limits on a grid of denominators for drawing the funnel lines.

        The grid is geometric from the smallest to the largest denominator (the funnel bends most
        at small denominators). Columns: ``denominator``, ``target``, the in-effect limits and the
        ``unadjusted_``/``adjusted_`` limits, as in ``points``.
        """
        if n_points < 2:
            raise InputError(f"n_points must be at least 2 to draw a line; got {n_points}.")
        den = self.points["denominator"].to_numpy(dtype=float)
        # A geometric grid cannot start at zero: an SR expected count rounded to 0.00 under
        # SHMI rounding (rare events in small areas) has no finite limits to draw anyway.
        den = den[np.isfinite(den) & (den > 0)]
        if den.size == 0:
            bands = [f"{kind}_{c}" for kind in ("unadjusted", "adjusted") for c in _LIMIT_COLUMNS]
            return pd.DataFrame(
                {c: np.empty(0) for c in ["denominator", "target", *_LIMIT_COLUMNS, *bands]}
            )
        grid = np.unique(np.geomspace(den.min(), den.max(), n_points))
        natural_target = self.target / self.multiplier
        fid = np.zeros(grid.size, dtype=np.intp)
        limits = _all_limits(
            grid,
            fid,
            np.array([natural_target]),
            np.array([self.tau2]),
            self.data_type,
            self.sr_method,
            self.multiplier,
            self.cqc_squared_limits,
        )
        out = {"denominator": grid, "target": np.full(grid.size, self.target)}
        for name in _LIMIT_COLUMNS:
            key = "adjusted_" + name if self.adjusted else "unadjusted_" + name
            out[name] = limits[key]
        out.update(limits)
        return pd.DataFrame(out)


# --------------------------------------------------------------------------- public functions


def funnel(
    numerator: Sequence[float] | np.ndarray | pd.Series,
    denominator: Sequence[float] | np.ndarray | pd.Series,
    data_type: DataType = "PR",
    *,
    groups: Sequence[Hashable] | np.ndarray | pd.Series | None = None,
    limit: float = 99.8,
    sr_method: SrMethod = "SHMI",
    trim: float = 0.1,
    adjust: bool = True,
    shmi_rounding: bool = True,
    multiplier: float = 1,
    cqc_squared_limits: bool = True,
) -> FunnelResult:
    """Spiegelhalter funnel for one set of units, as FunnelPlotR 0.6.0 ``funnel_plot()``.

    Parameters
    ----------
    numerator, denominator
        Events and denominators (PR, RC) or observed and expected counts (SR), one per row.
    data_type
        ``"PR"`` proportion, ``"SR"`` indirectly standardised ratio, ``"RC"`` ratio of counts.
    groups
        Unit labels; rows sharing a label are summed. Defaults to the row positions.
    limit
        Limits used for the ``outlier`` flag: 95 or 99.8 (FunnelPlotR's ``limit = 95 / 99``).
    sr_method
        ``"SHMI"`` (log, truncation) or ``"CQC"`` (square root, winsorisation); SR only.
    trim
        Proportion winsorised/truncated in each tail before estimating phi.
    adjust
        Estimate overdispersion and use adjusted limits when tau² > 0 (``draw_adjusted``).
    shmi_rounding
        Round SHMI expected counts to 2 dp, as NHS Digital and FunnelPlotR do.
    multiplier
        Scale for ``value``, ``target`` and the limits (e.g. 100 for percentages).
    cqc_squared_limits
        Back-transform CQC adjusted limits (default); ``False`` reproduces FunnelPlotR's issue #33.

    Raises
    ------
    InputError
        On negative or infinite values, a numerator above its denominator (PR), unknown options,
        or when no group has a positive denominator.
    """
    num = _as_float(numerator, "numerator")
    den = _as_float(denominator, "denominator")
    if num.shape != den.shape or num.ndim != 1:
        raise InputError(
            f"numerator and denominator must be 1-D and the same length; got {num.shape} and "
            f"{den.shape}."
        )
    labels = (
        pd.Series(np.arange(num.size))
        if groups is None
        else pd.Series(
            np.asarray(groups, dtype=object)
            if not isinstance(groups, pd.Series)
            else groups.to_numpy()
        )
    )
    if len(labels) != num.size:
        raise InputError(f"groups has {len(labels)} labels for {num.size} rows.")
    frame = pd.DataFrame({"group": labels.to_numpy(), "numerator": num, "denominator": den})
    points, summary, dropped = _funnel_frame(
        frame,
        by=[],
        numerator="numerator",
        denominator="denominator",
        area="group",
        options=_options(
            data_type,
            limit,
            sr_method,
            trim,
            adjust,
            shmi_rounding,
            multiplier,
            cqc_squared_limits,
        ),
    )
    if summary.empty or summary["n"].iloc[0] == 0:
        raise InputError(
            "No group has a positive denominator, so there is no funnel to draw "
            f"(dropped: {', '.join(map(str, dropped)) or 'none'})."
        )
    row = summary.iloc[0]
    points = points.assign(group=points["group"].astype(object)).reset_index(drop=True)
    return FunnelResult(
        points=points,
        phi=float(row["phi"]),
        tau2=float(row["tau2"]),
        adjusted=bool(row["adjusted"]),
        target=float(row["target"]),
        data_type=data_type,
        dropped=tuple(dropped),
        sr_method=sr_method,
        limit=float(limit),
        multiplier=float(multiplier),
        cqc_squared_limits=cqc_squared_limits,
    )


def funnel_by(
    frame: pd.DataFrame,
    by: list[str],
    numerator: str = "numerator",
    denominator: str = "denominator",
    area: str = "area_code",
    *,
    data_type: DataType = "PR",
    limit: float = 99.8,
    sr_method: SrMethod = "SHMI",
    trim: float = 0.1,
    adjust: bool = True,
    shmi_rounding: bool = True,
    multiplier: float = 1,
    cqc_squared_limits: bool = True,
    points_columns: Sequence[str] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every funnel in ``frame`` at once, one per combination of the ``by`` columns.

    Vectorised over all funnels (no Python loop per unit), and equal to :func:`funnel` applied to
    each ``by`` group. Options are those of :func:`funnel`; ``points_columns`` picks which of the
    points' statistics to return (all by default): at millions of units, a caller that reads
    only ``z`` and ``outlier`` is spared a frame of twenty columns. Keys held as non-negative
    integer codes are grouped by counting, without hashing.

    Returns
    -------
    points
        ``by`` columns, then the columns of ``FunnelResult.points`` (``group`` holds ``area``),
        sorted by ``by`` and area.
    summary
        One row per funnel: ``by`` columns, ``phi``, ``tau2``, ``adjusted``, ``target``, ``n``
        (units kept), ``n_outliers``, ``dropped`` (tuple of area codes dropped for a zero or
        missing denominator).
    """
    missing = [c for c in [*by, numerator, denominator, area] if c not in frame.columns]
    if missing:
        raise InputError(f"funnel_by: frame has no column(s) {', '.join(missing)}.")
    options = _options(
        data_type, limit, sr_method, trim, adjust, shmi_rounding, multiplier, cqc_squared_limits
    )
    points, summary, _ = _funnel_frame(
        frame, list(by), numerator, denominator, area, options, points_columns
    )
    return points, summary


def polarity_concern(
    outlier: str | Iterable[str] | pd.Series, polarity: str
) -> str | np.ndarray | pd.Series:
    """Turn a funnel outlier ("high", "low", "") into a judgement through the indicator's polarity.

    ``"higher_is_better"``: high → "better than expected", low → "concern";
    ``"lower_is_better"``: the reverse; ``"no_judgement"``: always "". Non-outliers give "".
    A scalar in gives a scalar out; a Series keeps its index.
    """
    mapping = {
        "higher_is_better": {"high": "better than expected", "low": "concern"},
        "lower_is_better": {"high": "concern", "low": "better than expected"},
        "no_judgement": {},
    }
    if polarity not in mapping:
        raise InputError(f"polarity must be one of {', '.join(mapping)}; got {polarity!r}.")
    table = mapping[polarity]
    if isinstance(outlier, str):
        _check_outlier_labels([outlier])
        return table.get(outlier, "")
    if isinstance(outlier, pd.Series):
        values = outlier.to_numpy(dtype=object, na_value="")
        _check_outlier_labels(pd.unique(values))
        out = np.full(len(values), "", dtype=object)
        for label, judgement in table.items():
            out[values == label] = judgement
        return pd.Series(out, index=outlier.index, dtype=object)
    values = np.asarray(list(outlier), dtype=object)
    _check_outlier_labels(np.unique(values))
    return np.array([table.get(v, "") for v in values], dtype=object)


# --------------------------------------------------------------------------- validation


def _check_outlier_labels(values: Iterable[Any]) -> None:
    bad = sorted({str(v) for v in values} - set(_OUTLIER_LABELS))
    if bad:
        raise InputError(f"outlier must be 'high', 'low' or ''; got {', '.join(bad)}.")


def _as_float(values: Any, name: str) -> np.ndarray:
    try:
        return np.asarray(pd.to_numeric(pd.Series(np.asarray(values)), errors="raise"), float)
    except (TypeError, ValueError) as err:
        raise InputError(f"{name} must be numeric: {err}") from None


def _options(
    data_type: str,
    limit: float,
    sr_method: str,
    trim: float,
    adjust: bool,
    shmi_rounding: bool,
    multiplier: float,
    cqc_squared_limits: bool,
) -> dict[str, Any]:
    if data_type not in ("PR", "SR", "RC"):
        raise InputError(f"data_type must be 'PR', 'SR' or 'RC'; got {data_type!r}.")
    if sr_method not in ("SHMI", "CQC"):
        raise InputError(f"sr_method must be 'SHMI' or 'CQC'; got {sr_method!r}.")
    if float(limit) not in _LIMITS:
        raise InputError(f"limit must be 95 or 99.8 (per cent); got {limit!r}.")
    if not 0 < trim < 0.5:
        raise InputError(f"trim must be a proportion between 0 and 0.5 per tail; got {trim!r}.")
    if not (np.isfinite(multiplier) and multiplier > 0):
        raise InputError(f"multiplier must be a positive number; got {multiplier!r}.")
    return {
        "data_type": data_type,
        "band": _LIMITS[float(limit)],
        "sr_method": sr_method if data_type == "SR" else "SHMI",
        "trim": float(trim),
        "adjust": bool(adjust),
        "round_expected": bool(shmi_rounding) and data_type == "SR" and sr_method == "SHMI",
        "multiplier": float(multiplier),
        "cqc_squared": bool(cqc_squared_limits),
    }


def _describe_rows(frame: pd.DataFrame, mask: np.ndarray, cols: list[str], limit: int = 5) -> str:
    rows = frame.loc[mask, cols].head(limit)
    labels = [" ".join(str(v) for v in r) for r in rows.itertuples(index=False)]
    more = int(mask.sum()) - len(labels)
    return ", ".join(labels) + (f" and {more} more" if more > 0 else "")


def _validate_rows(
    frame: pd.DataFrame,
    num: np.ndarray,
    den: np.ndarray,
    names: list[str],
    data_type: str,
    numerator: str,
    denominator: str,
) -> None:
    checks = [
        (np.isinf(num), f"{numerator} is infinite"),
        (np.isinf(den), f"{denominator} is infinite"),
        (num < 0, f"{numerator} is negative"),
        (den < 0, f"{denominator} is negative"),
    ]
    if data_type == "PR":
        checks.append((num > den, f"{numerator} exceeds {denominator} (a proportion above 1)"))
    for mask, what in checks:
        if mask.any():
            raise InputError(
                f"{what} in {int(mask.sum())} row(s): {_describe_rows(frame, mask, names)}."
            )


# --------------------------------------------------------------------------- the frame pipeline


def _dense(values: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Sorted factorisation of small non-negative integers by counting (None otherwise)."""
    if values.dtype.kind not in "iu" or not values.size:
        return None
    low, high = values.min(), values.max()
    if low < 0 or high > max(4 * values.size, 2**16):
        return None
    present = np.zeros(int(high) + 1, dtype=bool)
    present[values] = True
    position = np.cumsum(present, dtype=np.int64) - 1
    return position[values], np.flatnonzero(present).astype(values.dtype)


def _codes(column: pd.Series) -> tuple[np.ndarray, pd.Index]:
    dense = _dense(column.to_numpy())
    if dense is not None:
        return dense[0], pd.Index(dense[1])
    codes, uniques = pd.factorize(column, sort=True, use_na_sentinel=False)
    return codes.astype(np.int64), pd.Index(uniques)


def _funnel_frame(
    frame: pd.DataFrame,
    by: list[str],
    numerator: str,
    denominator: str,
    area: str,
    options: dict[str, Any],
    points_columns: Sequence[str] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, list[Any]]:
    num = _as_float(frame[numerator].to_numpy(), numerator)
    den = _as_float(frame[denominator].to_numpy(), denominator)
    _validate_rows(frame, num, den, [*by, area], options["data_type"], numerator, denominator)

    # Dense funnel ids, in sorted order of the by-columns.
    by_codes = [_codes(frame[c]) for c in by]
    if by_codes:
        sizes = [len(u) for _, u in by_codes]
        combined = np.ravel_multi_index([c for c, _ in by_codes], sizes)
        dense = _dense(combined)
        fid_all, fid_uniques = dense if dense is not None else pd.factorize(combined, sort=True)
        fid_all = fid_all.astype(np.int64)
        fid_levels = np.unravel_index(fid_uniques.astype(np.int64), sizes)
        by_values = {c: by_codes[i][1].take(fid_levels[i]) for i, c in enumerate(by)}
    else:
        fid_all = np.zeros(len(frame), dtype=np.int64)
        by_values = {}
    n_funnels = int(fid_all.max()) + 1 if fid_all.size else 0
    area_codes, area_uniques = _codes(frame[area])
    fid, acode, num, den, bad_fid, bad_acode = _units(
        fid_all, area_codes, len(area_uniques), num, den
    )
    dropped_by_funnel: dict[int, tuple[Any, ...]] = {}
    if bad_fid.size:
        bad_area = area_uniques.take(bad_acode)
        for f in np.unique(bad_fid):
            dropped_by_funnel[int(f)] = tuple(bad_area[bad_fid == f])
    bands, both_kinds = _bands(options, points_columns)
    core = _core(fid, n_funnels, num, den, options, bands, both_kinds, points_columns)

    points: dict[str, Any] = {}
    for c in by:
        values = by_values[c]
        points[c] = values.take(fid) if len(values) else values
    group_values = area_uniques.take(acode)
    points["group"] = group_values
    if points_columns is None:
        points.update(core["points"])
    else:
        points.update({c: core["points"][c] for c in points_columns})
    points_frame = pd.DataFrame(points, copy=False)

    summary = pd.DataFrame(
        {
            **{c: by_values[c] for c in by},
            "phi": core["phi"],
            "tau2": core["tau2"],
            "adjusted": core["adjusted"],
            "target": core["target"] * options["multiplier"],
            "n": core["n"],
            "n_outliers": core["n_outliers"],
            "dropped": [dropped_by_funnel.get(f, ()) for f in range(n_funnels)],
        }
    )
    dropped_all = [a for f in range(n_funnels) for a in dropped_by_funnel.get(f, ())]
    return points_frame, summary, dropped_all


def _units(
    fid_all: np.ndarray, area_codes: np.ndarray, n_areas: int, num: np.ndarray, den: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Units sorted by funnel and area, from rows keyed by funnel id and area code: funnel,
    area, numerator and denominator of those kept, then funnel and area of those dropped.

    Duplicate (funnel, area) rows are summed, as FunnelPlotR's aggregate_func does; units
    without a positive denominator, or with a missing numerator, are dropped (FunnelPlotR drops
    them silently; we name them). Rows already in key order are not sorted again.
    """
    width = max(n_areas, 1)
    key = fid_all * width + area_codes
    fid, acode = fid_all, area_codes
    if key.size > 1 and not np.all(key[1:] > key[:-1]):
        order = np.argsort(key, kind="stable")
        key, num, den = key[order], num[order], den[order]
        if not np.all(key[1:] > key[:-1]):
            starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
            key = key[starts]
            num = np.add.reduceat(num, starts)
            den = np.add.reduceat(den, starts)
        fid, acode = key // width, key % width
    bad = ~(den > 0) | np.isnan(num)
    if not bad.any():
        return fid, acode, num, den, fid[:0], acode[:0]
    keep = ~bad
    return fid[keep], acode[keep], num[keep], den[keep], fid[bad], acode[bad]


def _bands(
    options: dict[str, Any], points_columns: Sequence[str] | None
) -> tuple[tuple[str, ...], bool]:
    """The limit bands worked out (all, or those the chosen columns and outliers need), and
    whether both kinds of limits (unadjusted and adjusted) are."""
    bands = ("95", "998")
    if points_columns is not None:
        bands = tuple(
            b for b in bands if b == options["band"] or any(c.endswith(b) for c in points_columns)
        )
    both_kinds = points_columns is None or any("adjusted_" in c for c in points_columns)
    return bands, both_kinds


# --------------------------------------------------------------------------- the statistics


def _round_2dp(x: np.ndarray) -> np.ndarray:
    """Round to 2 dp as R 4 does: to the nearer decimal of the stored double, ties to even.

    ``np.round`` scales by 100 first, which can land exactly on .5 for doubles just below it;
    those near-ties are redone with Python's correctly rounded ``round``.
    """
    out = np.round(x, 2)
    scaled = x * 100.0
    near_tie = np.abs(scaled - np.floor(scaled) - 0.5) < 1e-6
    for i in np.flatnonzero(near_tie):
        out[i] = round(float(x[i]), 2)
    return out


def _transform(
    num: np.ndarray, den: np.ndarray, tt: np.ndarray, data_type: str, sr_method: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Transformed value Y, its standard error s and the unadjusted z-score (transformed_zscore)."""
    # An expected count of 0 (SHMI rounds 0.004 to 0.00) gives infinite or undefined values,
    # as in FunnelPlotR: no warning for what is by design.
    # Each array is made once and worked in place (the same operations, so the same bits).
    with np.errstate(divide="ignore", invalid="ignore"):
        if data_type == "RC":
            y = np.log((num + 0.5) / (den + 0.5))
            s = np.sqrt(num / ((num + 0.5) ** 2) + den / ((den + 0.5) ** 2))
            return y, s, (y - tt) / s
        y = np.divide(num, den)
        root = np.sqrt(den)
        if data_type == "SR" and sr_method == "SHMI":
            np.log(y, out=y)
            z = root * y
            return y, np.divide(1.0, root, out=root), z
        np.sqrt(y, out=y)
        if data_type == "PR":
            np.arcsin(y, out=y)
        root *= 2
        s = np.divide(1.0, root, out=root)
        z = np.subtract(y, tt)
        z /= s
        return y, s, z


def _type7(sorted_x: np.ndarray, p: float) -> float:
    """R's quantile(type = 7) on sorted data, with R's arithmetic: (1 − h)·x[lo] + h·x[hi]."""
    n = sorted_x.size
    index = 1 + max(n - 1, 0) * p
    lo, hi = math.floor(index), math.ceil(index)
    q = sorted_x[lo - 1]
    if index > lo and sorted_x[hi - 1] != q:
        h = index - lo
        q = (1 - h) * q + h * sorted_x[hi - 1]
    return float(q)


def _type7_ranks(n: int, p: float) -> list[int]:
    """The positions in sorted data that ``_type7`` reads."""
    index = 1 + max(n - 1, 0) * p
    return [math.floor(index) - 1, math.ceil(index) - 1]


def _trim_cuts(
    z: np.ndarray, bounds: np.ndarray, trim: float, truncate: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Per funnel, the cut points for winsorisation (quantiles) or SHMI truncation.

    Sorting is per funnel (a few thousand values each), which is far cheaper than one global
    sort of every unit; the per-unit work afterwards is vectorised.
    """
    n_funnels = bounds.size - 1
    low = np.full(n_funnels, np.nan)
    high = np.full(n_funnels, np.nan)
    k = 1 / trim
    for f in range(n_funnels):
        seg = z[bounds[f] : bounds[f + 1]]
        n = seg.size
        if n == 0:
            continue
        if not truncate:
            # the quantiles read four order statistics: those placed, the rest left unsorted;
            # unless one is a zero or NaN, whose sign or payload among equals only the sort
            # decides as before
            ranks = _type7_ranks(n, trim) + _type7_ranks(n, 1 - trim)
            placed = np.partition(seg, ranks)
            unsure = any(v == 0 or v != v for v in placed[ranks].tolist())
            seg = np.sort(seg) if unsure else placed
            low[f] = _type7(seg, trim)
            high[f] = _type7(seg, 1 - trim)
            continue
        seg = np.sort(seg)
        # NHS Digital truncation: average ranks, deciles sp = floor(rank·k/(n + 1)); units in
        # the first and last (sp ≤ 0, sp ≥ k − 1) are left out of phi. sp rises with the value,
        # so the truncated units are a prefix and a suffix of the sorted values, and a run of
        # ties shares one rank: it is worked out once per run.
        new_run = np.empty(n, dtype=bool)
        new_run[0] = True
        np.not_equal(seg[1:], seg[:-1], out=new_run[1:])
        first = np.flatnonzero(new_run)
        last = np.empty_like(first)
        last[:-1] = first[1:] - 1
        last[-1] = n - 1
        sp = np.floor(((first + last) / 2 + 1) * k / (n + 1))
        runs_low = np.count_nonzero(sp <= 0)
        runs_high = np.count_nonzero(sp >= k - 1)
        if runs_low:
            low[f] = seg[last[runs_low - 1]]
        if runs_high:
            high[f] = seg[first[first.size - runs_high]]
    return low, high


def _dersimonian_laird(
    n: np.ndarray, phi: np.ndarray, sum_w: np.ndarray, sum_w2: np.ndarray
) -> np.ndarray:
    """tau² = max(0, (n·phi − (n − 1)) / (Σw − Σw²/Σw)), 0 when n·phi < n − 1 (tau_func)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        tau2 = np.maximum(0.0, (n * phi - (n - 1)) / (sum_w - sum_w2 / sum_w))
    return np.where((n * phi < n - 1) | (n < 2) | ~np.isfinite(tau2), 0.0, tau2)


def _limit_pair(
    data_type: str,
    sr_method: str,
    band: str,
    d: np.ndarray,
    var0: np.ndarray,
    tau: np.ndarray | float,
    centre: np.ndarray,
    m: float,
    cqc_squared: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper limits of one band, normal-approximation forms (calculate_limits).

    ``var0`` is the within-unit variance on the transformed scale; ``centre`` is the transformed
    target per row (arcsine angle for PR, log target for RC; unused for SR).
    """
    z = _Z[band]
    # Built in place, each temporary reused: the same operations as the formulas in the
    # comments, so the same bits (x·1 is x, so a multiplier of 1 is not applied).
    if data_type == "SR" and sr_method == "SHMI":
        # m·exp(∓z·sqrt(1/d + tau))
        with np.errstate(divide="ignore"):  # expected 0: infinitely wide limits
            half = np.divide(1.0, d)
        half += tau
        np.sqrt(half, out=half)
        half *= z
        lower = np.exp(np.negative(half), out=np.empty_like(half))
        upper = np.exp(half, out=half)
        if m != 1:
            lower *= m
            upper *= m
        return lower, upper
    half = var0 + tau
    np.sqrt(half, out=half)
    half *= z  # z·sqrt(var0 + tau)
    if data_type == "SR":
        if cqc_squared:
            # Back to the ratio scale: the limits were built for sqrt(O/E) (issue #33).
            return m * np.maximum(0.0, 1 - half) ** 2, m * (1 + half) ** 2
        return m * (1 - half), m * (1 + half)
    if data_type == "RC":
        return m * np.exp(centre - half), m * np.exp(centre + half)
    # m·sin²(centre ∓ half)
    # A limit whose angle leaves [0, pi/2] has wrapped round the arcsine scale (sin² of a
    # negative angle is positive): pin it to 0 or 1. FunnelPlotR detects a wrap by comparing
    # each limit with the next larger denominator's on a lookup grid, which misses a wrap at the
    # largest denominator and a slight one at the smallest; the angle itself is the exact test
    # (departure 5 in docs/METHODS.md).
    lower = np.subtract(centre, half)
    wrapped_low = lower < 0
    in_place = np.broadcast_shapes(np.shape(centre), half.shape) == half.shape
    upper = np.add(centre, half, out=half) if in_place else centre + half
    wrapped_high = upper > np.pi / 2
    for limit in (lower, upper):
        np.sin(limit, out=limit)
        limit *= limit
        if m != 1:
            limit *= m
    lower[wrapped_low] = 0.0
    upper[wrapped_high] = m
    return lower, upper


def _poisson_pair(
    band: str, distinct: tuple[np.ndarray, np.ndarray], m: float
) -> tuple[np.ndarray, np.ndarray]:
    """Exact Poisson limits for SR, qchisq(..., lower.tail = FALSE) in FunnelPlotR.

    Expected counts repeat a lot (SHMI rounds them), so each distinct one is computed once:
    ``distinct`` is ``np.unique(d, return_inverse=True)``.
    """
    alpha = _ALPHA[band]
    u, inverse = distinct
    with np.errstate(divide="ignore", invalid="ignore"):  # expected 0: no finite limits
        lower = m * (special.chdtri(2 * u, 1 - alpha) / 2) / u
        upper = m * (special.chdtri(2 * (u + 1), alpha) / 2) / u
    return lower[inverse], upper[inverse]


def _all_limits(
    d: np.ndarray,
    fid: np.ndarray,
    target: np.ndarray,
    tau2: np.ndarray,
    data_type: str,
    sr_method: str,
    m: float,
    cqc_squared: bool,
    bands: tuple[str, ...] = ("95", "998"),
) -> dict[str, np.ndarray]:
    """Unadjusted and adjusted limits of ``bands`` (95, 99.8%) at denominators ``d``
    (calculate_limits).

    ``target`` and ``tau2`` are per funnel, indexed by ``fid``.
    """
    with np.errstate(divide="ignore"):  # a denominator of 0: infinite variance
        var0 = (1 / (2 * np.sqrt(d))) ** 2
    with np.errstate(divide="ignore", invalid="ignore"):
        if data_type == "PR":
            centre = np.arcsin(np.sqrt(target))[fid]
        elif data_type == "RC":
            centre = np.log(target)[fid]
        else:
            centre = np.ones(0)
    out: dict[str, np.ndarray] = {}
    distinct = np.unique(d, return_inverse=True) if data_type == "SR" else None
    for band in bands:
        if distinct is not None:
            lower, upper = _poisson_pair(band, distinct, m)
        else:
            lower, upper = _limit_pair(
                data_type, sr_method, band, d, var0, 0.0, centre, m, cqc_squared
            )
        out[f"unadjusted_lower_{band}"], out[f"unadjusted_upper_{band}"] = lower, upper

    positive = tau2 > 0
    if data_type != "SR" and not positive.any():
        # With tau² = 0 the adjusted formula is the unadjusted one for PR and RC.
        out.update({k.replace("unadjusted", "adjusted"): v for k, v in list(out.items())})
        return out
    rows = None if data_type == "SR" or positive.all() else np.flatnonzero(positive[fid])
    sub = (lambda a: a) if rows is None else (lambda a: a[rows])
    tau_rows = tau2[fid] if rows is None else tau2[fid[rows]]
    for band in bands:
        lower, upper = _limit_pair(
            data_type,
            sr_method,
            band,
            sub(d),
            sub(var0),
            tau_rows,
            sub(centre) if centre.size else centre,
            m,
            cqc_squared,
        )
        if rows is not None:
            lower_all = out[f"unadjusted_lower_{band}"].copy()
            upper_all = out[f"unadjusted_upper_{band}"].copy()
            lower_all[rows], upper_all[rows] = lower, upper
            lower, upper = lower_all, upper_all
        out[f"adjusted_lower_{band}"], out[f"adjusted_upper_{band}"] = lower, upper
    return out


def _limits_in_effect(
    d: np.ndarray,
    counts: np.ndarray,
    target: np.ndarray,
    tau2: np.ndarray,
    data_type: str,
    sr_method: str,
    m: float,
    cqc_squared: bool,
    bands: tuple[str, ...],
) -> dict[str, np.ndarray]:
    """The limits of ``bands`` each unit is judged by: adjusted in a funnel with tau² > 0,
    unadjusted elsewhere; unit for unit what ``_all_limits`` gives of the kind in effect, each
    limit computed once rather than both kinds for every unit (calculate_limits).

    ``target`` and ``tau2`` are per funnel; units come in funnel order, ``counts`` to each.
    """
    var0 = None if data_type == "SR" and sr_method == "SHMI" else _within_variance(d)
    tau_rows = np.repeat(tau2, counts)
    out: dict[str, np.ndarray] = {}
    if data_type != "SR":
        # tau² is 0 (not NaN) where a funnel is unadjusted, and var0 + 0 is var0 exactly
        with np.errstate(divide="ignore", invalid="ignore"):
            centre = np.arcsin(np.sqrt(target)) if data_type == "PR" else np.log(target)
        centre = np.repeat(centre, counts)
        for band in bands:
            lower, upper = _limit_pair(
                data_type, sr_method, band, d, var0, tau_rows, centre, m, cqc_squared
            )
            out[f"lower_{band}"], out[f"upper_{band}"] = lower, upper
        return out
    # SR: exact Poisson limits where unadjusted, the normal form with tau² where adjusted
    is_adjusted = tau_rows > 0
    if not is_adjusted.any():
        distinct = _distinct(d)
        for band in bands:
            out[f"lower_{band}"], out[f"upper_{band}"] = _poisson_pair(band, distinct, m)
        return out
    adjusted = np.flatnonzero(is_adjusted)
    exact = np.flatnonzero(~is_adjusted)
    distinct = _distinct(d[exact])
    for band in bands:
        lower, upper = np.empty(d.size), np.empty(d.size)
        lower[exact], upper[exact] = _poisson_pair(band, distinct, m)
        lower[adjusted], upper[adjusted] = _limit_pair(
            data_type,
            sr_method,
            band,
            d[adjusted],
            np.ones(0) if var0 is None else var0[adjusted],
            tau_rows[adjusted],
            np.ones(0),
            m,
            cqc_squared,
        )
        out[f"lower_{band}"], out[f"upper_{band}"] = lower, upper
    return out


def _within_variance(d: np.ndarray) -> np.ndarray:
    """(1 / (2·sqrt(d)))², the within-unit variance on the square-root and arcsine scales."""
    with np.errstate(divide="ignore"):  # a denominator of 0: infinite variance
        var0 = np.sqrt(d)
        var0 *= 2
        np.divide(1.0, var0, out=var0)
        return np.square(var0, out=var0)


def _distinct(d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct values of ``d`` and each one's index among them, as ``_poisson_pair`` takes them:
    by hashing, which is cheaper than np.unique's sort and gives each value the same limits."""
    inverse, u = pd.factorize(d, use_na_sentinel=False)
    return np.asarray(u, dtype=float), inverse


def _outlier_codes(value: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """Codes into _OUTLIER_LABELS: high over low, as where(high, 1, where(low, 2, 0))."""
    codes = np.less(value, lower).view(np.int8)
    codes *= 2
    np.copyto(codes, 1, where=value > upper)
    return codes


# Distance on the arcsine scale beyond which a PR unit is surely inside or outside a limit:
# a limit's sin² and the unit's arcsin(sqrt(p)) are each a few ulps from exact, which is far
# below the ~1e-12 a gap of 1e-6 radians makes on the proportion scale (least at 0 and pi/2).
_ANGLE_MARGIN = 1e-6


def _pr_outlier_codes(
    y: np.ndarray,
    value: np.ndarray,
    d: np.ndarray,
    counts: np.ndarray,
    target: np.ndarray,
    tau2: np.ndarray,
    band: str,
    m: float,
) -> np.ndarray:
    """PR outlier codes without every unit's limits, equal to comparing the value with them.

    sin² rises on [0, pi/2], so m·p < m·sin²(centre − half) where y = arcsin(sqrt(p)) is
    below the lower angle (and likewise above the upper one; an angle that has wrapped past
    0 or pi/2 pins its limit to 0 or m, which no proportion crosses). Units further than
    _ANGLE_MARGIN from both angles are judged on the angles; the few nearer (or NaN) are
    compared with their limits, computed exactly as ``_limits_in_effect`` computes them.
    """
    var0 = _within_variance(d)
    tau_rows = np.repeat(tau2, counts)
    with np.errstate(invalid="ignore"):
        centre = np.repeat(np.arcsin(np.sqrt(target)), counts)
    half = var0 + tau_rows
    np.sqrt(half, out=half)
    half *= _Z[band]
    below = np.subtract(centre, half)  # y − lower angle, once the angle is taken from y
    np.subtract(y, below, out=below)
    above = np.add(centre, half, out=half)
    np.subtract(y, above, out=above)  # y − upper angle
    codes = np.less(below, -_ANGLE_MARGIN).view(np.int8)
    codes *= 2
    np.copyto(codes, 1, where=above > _ANGLE_MARGIN)
    np.abs(below, out=below)
    np.abs(above, out=above)
    near = np.flatnonzero(~((below > _ANGLE_MARGIN) & (above > _ANGLE_MARGIN)))
    if near.size:
        lower, upper = _limit_pair(
            "PR", "SHMI", band, d[near], var0[near], tau_rows[near], centre[near], m, True
        )
        codes[near] = _outlier_codes(value[near], lower, upper)
    return codes


def _core(
    fid: np.ndarray,
    n_funnels: int,
    num: np.ndarray,
    den: np.ndarray,
    o: dict[str, Any],
    bands: tuple[str, ...] = ("95", "998"),
    both_kinds: bool = True,
    columns: Sequence[str] | None = None,
) -> dict[str, Any]:
    """The funnels' statistics for units sorted by funnel (and group within it); with
    ``both_kinds`` False, only the limits in effect (not the unadjusted and adjusted sets);
    ``columns`` names the points to return (all by default)."""
    data_type, sr_method, m = o["data_type"], o["sr_method"], o["multiplier"]
    # fid is sorted, so a funnel's value goes to its units by repeating it, not by a gather
    counts = np.bincount(fid, minlength=n_funnels)
    bounds = np.r_[0, np.cumsum(counts)]
    rr = num / den
    d = _round_2dp(den) if o["round_expected"] else den

    sum_num = np.bincount(fid, weights=num, minlength=n_funnels)
    sum_den = np.bincount(fid, weights=d, minlength=n_funnels)
    with np.errstate(divide="ignore", invalid="ignore"):
        target = np.ones(n_funnels) if data_type == "SR" else sum_num / sum_den
    if data_type == "SR":  # the same target for every funnel
        tt = np.float64(0.0 if sr_method == "SHMI" else 1.0)
    elif data_type == "PR":
        tt = np.repeat(np.arcsin(np.sqrt(target)), counts)
    else:
        with np.errstate(divide="ignore"):
            tt = np.repeat(np.log(target), counts)
    y, s, z = _transform(num, d, tt, data_type, sr_method)

    truncate = data_type == "SR" and sr_method == "SHMI"
    low, high = _trim_cuts(z, bounds, o["trim"], truncate)
    low_r, high_r = np.repeat(low, counts), np.repeat(high, counts)
    if truncate:
        trimmed = (z <= low_r) | (z >= high_r)
        zw = np.where(trimmed, np.nan, z)
    else:
        trimmed = ~((z > low_r) & (z < high_r))
        # where(z < low, low, where(z > high, high, z)), written in place
        zw = z.copy()
        np.copyto(zw, high_r, where=z > high_r)
        np.copyto(zw, low_r, where=z < low_r)
    del low_r, high_r

    used = ~np.isnan(zw)
    n_used = np.bincount(fid, weights=used, minlength=n_funnels)
    z2 = np.where(used, zw, 0.0)
    sum_z2 = np.bincount(fid, weights=np.square(z2, out=z2), minlength=n_funnels)
    del z2
    # 1 / s², 0 where unused: s is not needed again, so it is worked in place
    w = np.square(s, out=s)
    np.divide(1.0, w, out=w)
    w[~used] = 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        phi = (1 / n_used) * sum_z2
    tau2 = _dersimonian_laird(
        n_used,
        phi,
        np.bincount(fid, weights=w, minlength=n_funnels),
        np.bincount(fid, weights=w**2, minlength=n_funnels),
    )
    if not o["adjust"]:
        phi = np.zeros(n_funnels)
        tau2 = np.zeros(n_funnels)
    adjusted = tau2 > 0

    limit_args = (d, fid, target, tau2, data_type, sr_method, m, o["cqc_squared"])
    if both_kinds:
        limits = _all_limits(*limit_args, bands=bands)
        adjusted_r = adjusted[fid]
        in_effect = {
            name: np.where(adjusted_r, limits["adjusted_" + name], limits["unadjusted_" + name])
            for name in _LIMIT_COLUMNS
            if name.rsplit("_", 1)[1] in bands
        }
    else:
        limits = {}
    value = rr
    if m != 1:  # x × 1 is x
        value *= m
    band = o["band"]
    limits_wanted = columns is None or any(c.startswith(("lower_", "upper_")) for c in columns)
    if not both_kinds and data_type == "PR" and not limits_wanted:
        in_effect = {}
        codes = _pr_outlier_codes(y, value, d, counts, target, tau2, band, m)
    else:
        if not both_kinds:
            in_effect = _limits_in_effect(
                d, counts, target, tau2, data_type, sr_method, m, o["cqc_squared"], bands
            )
        codes = _outlier_codes(value, in_effect[f"lower_{band}"], in_effect[f"upper_{band}"])

    wanted = (lambda c: True) if columns is None else set(columns).__contains__
    points = {
        "numerator": num,
        "denominator": d,
        "value": value,
        **({"target": np.repeat(target * m, counts)} if wanted("target") else {}),
        "y": y,
        "z": z,
        "z_winsorised": zw,
        "trimmed": trimmed,
        **in_effect,
        **limits,
        "outlier": pd.Categorical.from_codes(codes, categories=_OUTLIER_LABELS, validate=False),
    }
    return {
        "points": points,
        "phi": phi,
        "tau2": tau2,
        "adjusted": adjusted,
        "target": target,
        "n": counts,
        "n_outliers": np.bincount(fid[codes > 0], minlength=n_funnels),
    }
