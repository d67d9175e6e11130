"""CCG mergers: who became whom, and values re-expressed on a later set of areas.

CCGs merged (2017–2021) but never split, so data can always be rolled *forward*: each old area's
counts are added into its successor's. Values are recombined only from counts — summed
numerators over summed denominators — never by averaging rates, which would weight a small CCG
like a large one. A merged area whose predecessors gave a value without counts, or where any
predecessor was suppressed, cannot be recombined and is shown as suppressed with a note saying
why (a partial sum would look like a real, lower number).

References
----------
- NHS Digital, Organisation Data Service: successor organisations file (``succ``), columns
  predecessor, successor, legal start date.
- NHS England, "CCG mergers" (annual lists of CCGs established on 1 April).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date

import numpy as np
import pandas as pd

from iaf import catalogue
from iaf.catalogue import Indicator
from iaf.errors import InputError
from iaf.model import MAX_EXAMPLES, VALUE_COLUMNS, _typed, sort_values

__all__ = ["load_successors", "resolve_successors", "roll_forward"]

SUCCESSOR_COLUMNS = ("from", "to", "legal_start")
RECOMBINABLE = frozenset({"proportion", "rate", "ratio", "count"})


def load_successors(source: object, *, name: str | None = None) -> pd.DataFrame:
    """Read a successor table (``from, to, legal_start``) — all rows, any organisation type.

    Accepts a path, bytes, or a DataFrame. Rows are kept whatever the organisation type (the
    ODS file mixes trusts, practices and CCGs); filtering happens when codes are resolved.
    """
    from iaf.loaders import read_table

    label = name or (str(source) if isinstance(source, str) else "successors")
    if isinstance(source, pd.DataFrame):
        frame = source.astype("str")
        frame["source_row"] = np.arange(2, len(frame) + 2)
    else:
        frame = read_table(source, name=label)  # type: ignore[arg-type]
    cols = {c.strip().lower(): c for c in frame.columns}
    missing = [c for c in SUCCESSOR_COLUMNS if c not in cols]
    if missing:
        shown = ", ".join(repr(c) for c in frame.columns if c != "source_row")
        raise InputError(
            f"{label}: a successor table needs columns from, to, legal_start; missing "
            f"{', '.join(missing)} (its columns are: {shown})"
        )
    out = pd.DataFrame(
        {
            "from": frame[cols["from"]].str.strip(),
            "to": frame[cols["to"]].str.strip(),
            "legal_start": pd.to_datetime(
                frame[cols["legal_start"]].str.strip(), errors="coerce", format="mixed"
            ),
        }
    )
    bad = (out["from"] == "") | (out["to"] == "") | out["legal_start"].isna()
    if bad.any():
        rows = frame.loc[bad, "source_row"].astype(int).tolist()
        shown = ", ".join(str(r) for r in rows[:MAX_EXAMPLES])
        raise InputError(
            f"{label}: {len(rows)} rows lack a from code, a to code or a legal_start date "
            f"(YYYY-MM-DD): rows {shown}"
        )
    self_loops = out["from"] == out["to"]
    return out.loc[~self_loops].reset_index(drop=True)


def resolve_successors(
    successors: pd.DataFrame, codes: Iterable[str], as_of: date
) -> dict[str, str]:
    """Each code's successor as of ``as_of``, following chains (10G → 15D → D4U1Y).

    Only mergers with ``legal_start ≤ as_of`` apply. Codes without a successor map to
    themselves. A code with two successors on the same date (a split) or a cycle raises
    :class:`InputError`.
    """
    cutoff = pd.Timestamp(as_of)
    live = successors.loc[successors["legal_start"] <= cutoff]
    # Latest merger first for each predecessor; two different successors on that date = split.
    live = live.sort_values("legal_start", kind="stable")
    step: dict[str, tuple[str, pd.Timestamp]] = {}
    for frm, to, when in zip(live["from"], live["to"], live["legal_start"], strict=True):
        prev = step.get(frm)
        if prev is not None and prev[1] == when and prev[0] != to:
            step[frm] = ("\0split", when)  # marks ambiguity, reported only if asked about
            continue
        step[frm] = (to, when)
    out: dict[str, str] = {}
    for code in dict.fromkeys(str(c) for c in codes):
        path = [code]
        current = code
        while current in step:
            nxt, when = step[current]
            if nxt == "\0split":
                targets = sorted(
                    set(live.loc[(live["from"] == current) & (live["legal_start"] == when), "to"])
                )
                raise InputError(
                    f"successors: {current} has {len(targets)} successors on "
                    f"{when.date().isoformat()} ({', '.join(targets)}): an area that split "
                    "cannot be rolled forward"
                )
            if nxt in path:
                raise InputError(
                    f"successors: the chain {' → '.join([*path, nxt])} is a cycle; fix the "
                    "successor table"
                )
            path.append(nxt)
            current = nxt
        out[code] = current
    return out


def _indicator_table(indicators: Mapping[str, Indicator] | Iterable[Indicator] | None) -> dict:
    if indicators is None:
        return {i.code: i for i in catalogue.CATALOGUE}
    if isinstance(indicators, Mapping):
        return dict(indicators)
    return {i.code: i for i in indicators}


def roll_forward(
    values: pd.DataFrame,
    successors: pd.DataFrame,
    as_of: date,
    indicators: Mapping[str, Indicator] | Iterable[Indicator] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Re-code areas to their successors as of ``as_of`` and recombine merged areas.

    For each (successor, indicator, period) with more than one predecessor: numerators and
    denominators are summed and ``value = Σnumerator / Σdenominator × multiplier`` (never an
    average of values); the file's confidence limits no longer apply and are cleared.
    When any predecessor is suppressed, or gave a value without counts, or the indicator is a
    score or milestone (not a count-based value), the merged row is suppressed with a note.

    Returns ``(values, notes)``; ``notes`` has one row per merged (area, indicator, period):
    area_code, indicator, period, merged_from (``;``-separated), note.
    """
    known = _indicator_table(indicators)
    frame = values.copy()
    for c in ("area_code", "indicator", "period", "note"):
        frame[c] = frame[c].astype("str")
    mapping = resolve_successors(successors, frame["area_code"].unique(), as_of)
    frame["from_code"] = frame["area_code"]
    frame["area_code"] = frame["area_code"].map(mapping)
    keys = ["area_code", "indicator", "period"]
    size = frame.groupby(keys, sort=False)["from_code"].transform("size")
    single = frame.loc[size == 1].drop(columns="from_code")
    multi = frame.loc[size > 1]
    if multi.empty:
        return sort_values(_typed(single)), _empty_notes()

    no_counts = multi["numerator"].isna() | multi["denominator"].isna()
    grouped = (
        multi.assign(_supp=multi["suppressed"], _nocount=no_counts & ~multi["suppressed"])
        .groupby(keys, sort=False)
        .agg(
            period_type=("period_type", "first"),
            period_start=("period_start", "first"),
            period_end=("period_end", "first"),
            numerator=("numerator", "sum"),
            denominator=("denominator", "sum"),
            any_suppressed=("_supp", "any"),
            any_without_counts=("_nocount", "any"),
        )
        .reset_index()
    )
    # Who merged (and who was suppressed) per row, joined once per group with no lambdas:
    # a per-group Python function over thousands of groups took seconds.
    who = (
        multi[[*keys, "from_code", "suppressed"]]
        .drop_duplicates([*keys, "from_code"])
        .sort_values("from_code", kind="stable")
    )
    merged_from = who.groupby(keys, sort=False)["from_code"].agg(";".join).rename("merged_from")
    suppressed_from = (
        who.loc[who["suppressed"]]
        .groupby(keys, sort=False)["from_code"]
        .agg(";".join)
        .rename("suppressed_from")
    )
    grouped = grouped.merge(merged_from.reset_index(), on=keys, how="left").merge(
        suppressed_from.reset_index(), on=keys, how="left"
    )
    grouped["suppressed_from"] = grouped["suppressed_from"].fillna("")
    vtype = grouped["indicator"].map({k: i.value_type for k, i in known.items()})
    mult = grouped["indicator"].map({k: float(i.multiplier) for k, i in known.items()})
    names = grouped["merged_from"].str.replace(";", ", ", regex=False)
    not_countable = ~vtype.isin(list(RECOMBINABLE))
    note = pd.Series("", index=grouped.index, dtype="str")
    note = note.mask(
        not_countable,
        "merged from " + names + ": a score cannot be recombined across merged areas",
    )
    note = note.mask(
        (note == "") & grouped["any_suppressed"],
        "merged from "
        + names
        + ": suppressed because "
        + grouped["suppressed_from"].str.replace(";", ", ", regex=False)
        + " was suppressed (a partial sum would be wrong)",
    )
    note = note.mask(
        (note == "") & grouped["any_without_counts"],
        "merged from " + names + ": value cannot be recombined without counts",
    )
    broken = note != ""
    ok_value = grouped["numerator"] / grouped["denominator"] * mult
    ok_value = ok_value.where(grouped["denominator"] > 0)
    note = note.mask(~broken, "merged from " + names + ": counts summed")
    merged = grouped.assign(
        value=ok_value.where(~broken),
        numerator=grouped["numerator"].where(~broken),
        denominator=grouped["denominator"].where(~broken),
        lower_95=np.nan,
        upper_95=np.nan,
        lower_998=np.nan,
        upper_998=np.nan,
        note=note,
        suppressed=broken | ok_value.isna(),
    )
    notes = merged[[*keys, "merged_from", "note"]].reset_index(drop=True)
    out = pd.concat([single[list(VALUE_COLUMNS)], merged[list(VALUE_COLUMNS)]], ignore_index=True)
    return sort_values(_typed(out)), notes


def _empty_notes() -> pd.DataFrame:
    return pd.DataFrame(
        {
            c: pd.Series([], dtype="str")
            for c in ("area_code", "indicator", "period", "merged_from", "note")
        }
    )
