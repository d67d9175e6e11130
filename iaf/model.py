"""The data model: one tidy long table of values, an areas table, optional boundaries.

Every loader produces a *raw* frame with (some of) the canonical columns below as text or
numbers plus ``source_row`` (the spreadsheet row number, header = row 1), then calls
:func:`validate_values`, which types the columns, marks suppression, rejects bad rows with a
reason, and reports every problem with what, where and why. Nothing is silently dropped:
rejected rows come back in ``ValidationReport.rejected``.

Values table (``VALUE_COLUMNS``)
    area_code, indicator, period, period_type, period_start, period_end, numerator,
    denominator, value, lower_95, upper_95, lower_998, upper_998, note, suppressed
Areas table (``AREA_COLUMNS``)
    code, name, type (``ccg``, ``practice`` …), parent (e.g. a practice's CCG), region, stp,
    population, peers (``;``-separated codes); any further numeric columns are area
    characteristics used to find similar areas.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from iaf import catalogue
from iaf.catalogue import Indicator
from iaf.errors import InputError
from iaf.periods import parse_periods

VALUE_COLUMNS: tuple[str, ...] = (
    "area_code",
    "indicator",
    "period",
    "period_type",
    "period_start",
    "period_end",
    "numerator",
    "denominator",
    "value",
    "lower_95",
    "upper_95",
    "lower_998",
    "upper_998",
    "note",
    "suppressed",
)
NUMERIC_COLUMNS: tuple[str, ...] = (
    "numerator",
    "denominator",
    "value",
    "lower_95",
    "upper_95",
    "lower_998",
    "upper_998",
)
CATEGORY_COLUMNS: tuple[str, ...] = ("area_code", "indicator", "period", "period_type", "note")
AREA_COLUMNS: tuple[str, ...] = (
    "code",
    "name",
    "type",
    "parent",
    "region",
    "stp",
    "population",
    "peers",
)

# Markers publishers use for suppressed or missing numbers (NHS Digital, ONS, Fingertips).
SUPPRESSION_MARKERS: frozenset[str] = frozenset({"*", "c", "x", "..", "-", "", ":", "n/a", "na"})
MAX_EXAMPLES = 5
# Counts within this distance of a whole number are whole (floating-point noise in sources).
WHOLE_TOLERANCE = 1e-6


# ── Reports ──────────────────────────────────────────────────────────────────────────────
@dataclass(frozen=True, slots=True)
class Problem:
    """One kind of problem found in a file: what, where (rows/column) and why."""

    kind: str
    message: str
    severity: str = "error"  # "error": rows rejected; "warning": loaded, but worth a look
    column: str | None = None
    rows: tuple[int, ...] = ()


@dataclass(frozen=True)
class ValidationReport:
    """What happened to every row of one input."""

    source: str
    n_input_rows: int
    n_loaded: int
    problems: tuple[Problem, ...] = ()
    rejected: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def n_rejected(self) -> int:
        return len(self.rejected)

    @property
    def errors(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.severity == "error")

    @property
    def warnings(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.severity == "warning")

    def lines(self) -> list[str]:
        head = (
            f"{self.source}: {self.n_loaded} of {self.n_input_rows} rows loaded, "
            f"{self.n_rejected} rejected"
        )
        return [head] + [f"{p.severity}: {p.message}" for p in self.problems]


def describe_rows(frame: pd.DataFrame, mask: np.ndarray | pd.Series, what: str) -> str:
    """'<what> in 3 rows: row 17 00C 2016/17 Q1, …' for the rows where ``mask`` holds."""
    hits = frame.loc[np.asarray(mask, dtype=bool)]
    n = len(hits)
    examples = []
    for _, r in hits.head(MAX_EXAMPLES).iterrows():
        parts = [f"row {int(r['source_row'])}"]
        for col in ("area_code", "indicator", "period"):
            v = r.get(col)
            if isinstance(v, str) and v.strip():
                parts.append(v.strip()[:40])
        examples.append(" ".join(parts))
    more = f" and {n - MAX_EXAMPLES} more" if n > MAX_EXAMPLES else ""
    noun = "row" if n == 1 else "rows"
    return f"{what} in {n} {noun}: {', '.join(examples)}{more}"


# ── Dataset ──────────────────────────────────────────────────────────────────────────────
@dataclass(frozen=True)
class Dataset:
    """Values, areas, optional boundaries and merger history, with where they came from."""

    values: pd.DataFrame
    areas: pd.DataFrame
    name: str = "dataset"
    source: str = ""
    synthetic: bool = False
    boundaries: dict[str, Any] | None = None
    mergers: pd.DataFrame | None = None
    extra_indicators: tuple[Indicator, ...] = ()
    area_type: str = "ccg"

    def indicator(self, code: str) -> Indicator:
        for ind in self.extra_indicators:
            if ind.code == code:
                return ind
        return catalogue.by_code(code)

    def indicators(self) -> tuple[Indicator, ...]:
        """Indicators with at least one row, in catalogue order then extras."""
        present = _present(self.values["indicator"])
        known = [i for i in catalogue.CATALOGUE if i.code in present]
        return tuple(known) + tuple(i for i in self.extra_indicators if i.code in present)

    def with_values(self, values: pd.DataFrame) -> Dataset:
        return replace(self, values=values)

    def summary(self) -> dict[str, int]:
        v = self.values
        return {
            "rows": len(v),
            "areas": int(v["area_code"].nunique()),
            "periods": int(v["period"].nunique()),
            "indicators": int(v["indicator"].nunique()),
            "suppressed": int(v["suppressed"].sum()),
        }


def _present(column: pd.Series) -> set[str]:
    """The distinct values of a code column as text, from its categories when it has them
    (a pass over the categorical's codes instead of 7.4M string conversions)."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        counts = np.bincount(column.cat.codes.to_numpy() + 1, minlength=1)[1:]  # -1 = missing
        return {str(c) for c in column.cat.categories[np.flatnonzero(counts)]}
    return set(column.dropna().astype(str).unique())


def empty_values() -> pd.DataFrame:
    return _typed(pd.DataFrame({c: [] for c in VALUE_COLUMNS}))


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    for c in NUMERIC_COLUMNS:
        out[c] = pd.to_numeric(out[c], errors="coerce").astype("float64")
    for c in CATEGORY_COLUMNS:
        out[c] = out[c].astype("string").fillna("").astype("category")
    for c in ("period_start", "period_end"):
        out[c] = pd.to_datetime(out[c])
    out["suppressed"] = out["suppressed"].astype(bool)
    return out[list(VALUE_COLUMNS)].reset_index(drop=True)


def sort_values(values: pd.DataFrame) -> pd.DataFrame:
    return values.sort_values(
        ["indicator", "area_code", "period_end", "period_start"], kind="stable"
    ).reset_index(drop=True)


def concat_values(frames: Iterable[pd.DataFrame]) -> pd.DataFrame:
    """Concatenate typed value frames, keeping categories (unioned) and canonical dtypes."""
    frames = [f for f in frames if len(f)]
    if not frames:
        return empty_values()
    from pandas.api.types import union_categoricals

    out = {}
    for c in VALUE_COLUMNS:
        cols = [f[c] for f in frames]
        if c in CATEGORY_COLUMNS:
            out[c] = pd.Series(union_categoricals([s.astype("category") for s in cols]))
        else:
            out[c] = pd.concat(cols, ignore_index=True)
    return pd.DataFrame(out)


# ── Validation ───────────────────────────────────────────────────────────────────────────
def _bool(mask: pd.Series | np.ndarray) -> np.ndarray:
    """A plain boolean array; missing (NA) comparisons count as False."""
    if isinstance(mask, pd.Series):
        return mask.fillna(False).to_numpy(dtype=bool)
    return np.asarray(mask, dtype=bool)


def _text(series: pd.Series) -> pd.Series:
    return series.astype("string").str.strip()


def _parse_numbers(raw: pd.Series) -> tuple[pd.Series, pd.Series, pd.Series]:
    """(numbers, suppressed-marker mask, text-in-number mask) for one raw column."""
    if pd.api.types.is_numeric_dtype(raw) and not pd.api.types.is_bool_dtype(raw):
        nums = raw.astype("float64")
        return nums, nums.isna(), pd.Series(False, index=raw.index)
    text = _text(raw)
    lowered = text.str.lower()
    marker = lowered.isna() | lowered.isin(SUPPRESSION_MARKERS)
    # Thousands separators and a trailing % are how spreadsheets show numbers, not text.
    cleaned = text.str.replace(",", "", regex=False).str.replace("%", "", regex=False)
    nums = pd.to_numeric(cleaned.where(~marker), errors="coerce").astype("float64")
    bad = ~marker & nums.isna()
    return nums, marker.fillna(True).astype(bool), bad.fillna(False).astype(bool)


def validate_values(
    raw: pd.DataFrame,
    *,
    source: str,
    indicators: Mapping[str, Indicator] | None = None,
    area_codes: Iterable[str] | None = None,
) -> tuple[pd.DataFrame, ValidationReport]:
    """Type, check and clean a raw values frame; return (clean values, report).

    ``raw`` holds the canonical columns it has (text or numbers) and ``source_row``.
    ``indicators`` maps the codes this input may use to their definitions (default: the IAF
    catalogue); ``area_codes``, when given, is the set of known areas.

    Fatal problems (no usable columns) raise :class:`InputError`; row problems reject the rows
    concerned, each listed with its reason.
    """
    known = dict(indicators) if indicators is not None else {i.code: i for i in catalogue.CATALOGUE}
    frame = raw.copy()
    if "source_row" not in frame:
        frame["source_row"] = np.arange(2, len(frame) + 2)
    missing = [c for c in ("area_code", "indicator", "period") if c not in frame]
    if missing:
        raise InputError(f"{source}: missing required column(s): {', '.join(missing)}")
    has_counts = {"numerator", "denominator"} <= set(frame.columns)
    if not has_counts and "value" not in frame:
        raise InputError(
            f"{source}: needs a value column, or numerator and denominator columns "
            f"(found: {', '.join(c for c in frame.columns if c != 'source_row')})"
        )
    if frame.empty:
        raise InputError(f"{source}: has a header but no data rows")
    for c in ("area_code", "indicator", "period", "note"):
        if c in frame:
            frame[c] = _text(frame[c])
    for c in NUMERIC_COLUMNS:
        if c not in frame:
            frame[c] = np.nan
    if "note" not in frame:
        frame["note"] = ""
    frame["note"] = frame["note"].fillna("")

    reasons = pd.Series("", index=frame.index, dtype="object")
    problems: list[Problem] = []

    def reject(mask: pd.Series | np.ndarray, kind: str, what: str, column: str | None) -> None:
        mask = pd.Series(_bool(mask), index=frame.index) & (reasons == "")
        if not mask.any():
            return
        message = describe_rows(frame, mask, what)
        rows = tuple(int(r) for r in frame.loc[mask, "source_row"])
        problems.append(Problem(kind, message, "error", column, rows))
        reasons[mask] = what

    def warn(mask: pd.Series | np.ndarray, kind: str, what: str, column: str | None) -> None:
        mask = pd.Series(_bool(mask), index=frame.index) & (reasons == "")
        if mask.any():
            rows = tuple(int(r) for r in frame.loc[mask, "source_row"])
            problems.append(
                Problem(kind, describe_rows(frame, mask, what), "warning", column, rows)
            )

    # Keys
    reject(frame["area_code"].isna() | (frame["area_code"] == ""), "blank_area", "blank area code",
           "area_code")  # fmt: skip
    reject(frame["indicator"].isna() | (frame["indicator"] == ""), "blank_indicator",
           "blank indicator", "indicator")  # fmt: skip
    reject(frame["area_code"].str.len() > 20, "long_area", "area code longer than 20 characters",
           "area_code")  # fmt: skip
    unknown_ind = ~frame["indicator"].isin(list(known)) & (reasons == "")
    if unknown_ind.any():
        names = sorted(set(frame.loc[unknown_ind, "indicator"].str.slice(0, 40)))
        shown = ", ".join(repr(n) for n in names[:MAX_EXAMPLES])
        what = f"unknown indicator ({shown}; expected an IAF code such as 101a)"
        reject(unknown_ind, "unknown_indicator", what, "indicator")
    if area_codes is not None:
        codes = set(area_codes)
        unknown_area = ~frame["area_code"].isin(codes) & (reasons == "")
        if unknown_area.any():
            names = sorted(set(frame.loc[unknown_area, "area_code"].str.slice(0, 20)))
            shown = ", ".join(names[:MAX_EXAMPLES])
            reject(unknown_area, "unknown_area",
                   f"area code not in the areas table ({shown})", "area_code")  # fmt: skip

    # Periods
    parsed = parse_periods(frame["period"])
    bad_period = parsed["error"] != ""
    if bad_period.any():
        labels = sorted(set(frame.loc[bad_period, "period"].fillna("").str.slice(0, 30)))
        shown = ", ".join(repr(x) for x in labels[:MAX_EXAMPLES])
        reject(bad_period, "bad_period",
               f"unrecognised period ({shown}; expected e.g. 2016/17 Q1, 2016/17, 2017-01)",
               "period")  # fmt: skip
    frame["period"] = parsed["period"]
    frame["period_type"] = parsed["period_type"]
    frame["period_start"] = parsed["period_start"]
    frame["period_end"] = parsed["period_end"]
    ok = reasons == ""
    kinds = (
        frame.loc[ok].groupby("indicator")["period_type"].agg(lambda s: s.value_counts().idxmax())
    )
    majority = frame["indicator"].map(kinds)
    mixed = ok & majority.notna() & (frame["period_type"] != majority)
    if mixed.any():
        reject(mixed, "mixed_periods",
               "mixed period formats within one indicator (these rows differ from the "
               "indicator's usual kind of period)", "period")  # fmt: skip

    # Numbers
    for c in NUMERIC_COLUMNS:
        nums, _marker, bad = _parse_numbers(frame[c])
        reject(bad, "text_in_number", f"text where a number belongs in column {c}", c)
        infinite = np.isinf(nums.to_numpy())
        reject(infinite, "infinite", f"infinite number in column {c}", c)
        frame[c] = nums.where(~np.isinf(nums))
    num, den, val = frame["numerator"], frame["denominator"], frame["value"]
    reject(num < 0, "negative", "negative numerator", "numerator")
    reject(den < 0, "negative", "negative denominator", "denominator")
    vtype = frame["indicator"].map({k: v.value_type for k, v in known.items()}).astype(object)
    mult = frame["indicator"].map({k: float(v.multiplier) for k, v in known.items()})
    counted = vtype.isin(["proportion", "rate", "ratio", "count"])
    frac_num = counted & num.notna() & ((num - num.round()).abs() > WHOLE_TOLERANCE)
    reject(frac_num, "fractional_count",
           "fractional numerator where a whole count is required", "numerator")  # fmt: skip
    prop = vtype == "proportion"
    frac_den = prop & den.notna() & ((den - den.round()).abs() > WHOLE_TOLERANCE)
    reject(frac_den, "fractional_count",
           "fractional denominator where a whole count is required", "denominator")  # fmt: skip
    reject(prop & (num > den), "numerator_exceeds_denominator", "numerator exceeds denominator",
           "numerator")  # fmt: skip
    # 0 of 0 (no patients that month) is real and common in small areas: the value is undefined,
    # so the row is kept as missing, never shown as 0%.
    nothing = (den == 0) & (num == 0) & (vtype != "score")
    warn(nothing, "nothing_to_measure",
         "zero numerator and zero denominator (nothing to measure: kept as missing, not 0)",
         "denominator")  # fmt: skip
    reject((den == 0) & num.notna() & ~_bool(nothing) & (vtype != "score"), "zero_denominator",
           "zero denominator", "denominator")  # fmt: skip
    reject(prop & ((val < 0) | (val > mult)), "proportion_range",
           "proportion outside 0 to 100%", "value")  # fmt: skip
    # The value shown is the one given, else numerator / denominator: check that one, so a
    # value worked out from counts is never infinite (a score over a zero denominator, an
    # overflow) and always lies inside the file's own confidence limits.
    computed = num / den * mult
    shown = val.where(val.notna(), computed)
    reject(np.isinf(shown.to_numpy()), "infinite",
           "numerator / denominator is infinite (a zero or tiny denominator, or a huge "
           "numerator)", "value")  # fmt: skip
    for level in ("95", "998"):
        lo, hi = frame[f"lower_{level}"], frame[f"upper_{level}"]
        reject(lo > hi, "ci_order", f"lower {level} limit above upper limit", f"lower_{level}")
        outside = (shown < lo - 1e-9 * shown.abs()) | (shown > hi + 1e-9 * shown.abs())
        reject(outside, "ci_outside", f"value outside its {level} confidence interval", "value")

    # Duplicates (after periods are canonical, so "2016/17 Q1" and "2016/17 q1" collide)
    live = reasons == ""
    dup = live & frame.duplicated(["area_code", "indicator", "period"], keep="first") & live
    reject(dup, "duplicate", "duplicate area, indicator and period (the first was kept)", None)

    # Values from counts; suppression
    keep = reasons == ""
    frame["value"] = shown
    differs = (
        keep
        & val.notna()
        & computed.notna()
        & ((val - computed).abs() > 0.01 * computed.abs().clip(lower=1e-12))
    )
    warn(differs, "value_mismatch",
         "value differs by more than 1% from numerator / denominator (the value given was kept)",
         "value")  # fmt: skip
    # A row is suppressed when no value survives: a marker (*, c, x, ..) or a blank.
    frame["suppressed"] = frame["value"].isna() & keep
    n_supp = int(frame.loc[keep, "suppressed"].sum())
    if n_supp:
        problems.append(
            Problem(
                "suppressed",
                f"{n_supp} rows are suppressed or missing: kept and shown as suppressed, never 0",
                "warning",
                None,
            )
        )

    rejected = raw.loc[~keep].copy()
    rejected.insert(0, "reason", reasons[~keep].to_numpy())
    rejected.insert(0, "row", frame.loc[~keep, "source_row"].to_numpy())
    clean = _typed(frame.loc[keep])
    report = ValidationReport(
        source=source,
        n_input_rows=len(frame),
        n_loaded=len(clean),
        problems=tuple(problems),
        rejected=rejected.reset_index(drop=True),
    )
    return sort_values(clean), report


def validate_areas(raw: pd.DataFrame, *, source: str) -> pd.DataFrame:
    """Check an areas table (unique non-blank codes) and give it the canonical columns."""
    if "code" not in raw:
        raise InputError(f"{source}: the areas table needs a 'code' column")
    frame = raw.copy()
    frame["code"] = _text(frame["code"])
    blank = frame["code"].isna() | (frame["code"] == "")
    if blank.any():
        rows = ", ".join(str(i + 2) for i in np.flatnonzero(blank)[:MAX_EXAMPLES])
        raise InputError(f"{source}: blank area code in {int(blank.sum())} rows: rows {rows}")
    dup = frame["code"].duplicated(keep=False)
    if dup.any():
        codes = ", ".join(sorted(set(frame.loc[dup, "code"]))[:MAX_EXAMPLES])
        raise InputError(f"{source}: area codes appear more than once: {codes}")
    for c in AREA_COLUMNS:
        if c not in frame:
            frame[c] = np.nan if c == "population" else ""
    frame["name"] = frame["name"].astype("string").fillna(frame["code"])
    frame["name"] = frame["name"].where(frame["name"].str.strip() != "", frame["code"])
    for c in ("type", "parent", "region", "stp", "peers"):
        frame[c] = frame[c].astype("string").fillna("")
    frame["type"] = frame["type"].where(frame["type"] != "", "ccg")
    frame["population"] = pd.to_numeric(frame["population"], errors="coerce")
    extra = [c for c in frame.columns if c not in AREA_COLUMNS]
    return frame[list(AREA_COLUMNS) + extra].reset_index(drop=True)


def areas_from_values(values: pd.DataFrame) -> pd.DataFrame:
    """A minimal areas table (codes as names) for data loaded without a lookup."""
    codes = sorted(set(values["area_code"].astype(str)))
    return validate_areas(pd.DataFrame({"code": codes, "name": codes}), source="values")
