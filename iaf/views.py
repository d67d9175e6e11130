"""Per-view frames: what each page shows, computed from the dataset and its analysis.

Pure functions (no Streamlit): ``ui.get_view`` caches them per parameter set, pages draw them.
Each returns only the rows its chart draws.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from iaf import catalogue, charts, narrative
from iaf.analysis import COMPARATORS, FUNNEL_TYPE, Analysis, latest_per_indicator
from iaf.errors import InputError
from iaf.model import Dataset
from iaf.stats import ci as ci_mod
from iaf.stats import funnel, ratings, spc
from iaf.stats import outliers as outlier_stats
from iaf.stats import peers as peers_mod

SIG_PREFIX = {"england": "", "region": "region_", "stp": "stp_", "peers": "peers_"}
CMP_VALUE = {
    "england": "england",
    "region": "region_value",
    "stp": "stp_value",
    "peers": "peers_value",
}


# ── row selection on the sorted, categorical results ────────────────────────────────────
# Text columns the analysis keeps categorical; views hand them on as plain text.
_TEXT = (
    "area_code", "indicator", "period", "value_type", "polarity", "region", "stp",
    "sig_95", "sig_998", "region_sig_95", "region_sig_998", "stp_sig_95", "stp_sig_998",
    "peers_sig_95", "peers_sig_998", "funnel_outlier", "funnel_concern", "spc_point_type",
)  # fmt: skip


def _plain(rows: pd.DataFrame) -> pd.DataFrame:
    """A slice of the results with the analysis' categorical text as plain text again."""
    out = {}
    for col in rows.columns:
        values = rows[col]
        if isinstance(values.dtype, pd.CategoricalDtype) and (col in _TEXT or col == "ci_method"):
            text = values.astype("str")
            values = text.astype(object) if col == "ci_method" else text
        out[col] = values
    return pd.DataFrame(out, index=rows.index)


def _block(result: Analysis, indicator: str) -> pd.DataFrame:
    """One indicator's rows, a contiguous block of the sorted results."""
    if result.indicator_rows:
        return result.rows_of(indicator)
    return result.results.loc[result.results["indicator"] == indicator]


def _area_positions(result: Analysis, area: str) -> np.ndarray:
    """Row positions of one area, in results order (within each indicator block, contiguous)."""
    res = result.results
    col = res["area_code"]
    if not (result.indicator_rows and isinstance(col.dtype, pd.CategoricalDtype)):
        return np.flatnonzero((col == area).to_numpy(dtype=bool, na_value=False))
    cats = col.cat.categories
    if area not in cats:
        return np.zeros(0, dtype=np.int64)
    code = cats.get_loc(area)
    codes = col.cat.codes.to_numpy()
    parts = []
    for start, stop in result.indicator_rows.values():
        block = codes[start:stop]
        lo, hi = np.searchsorted(block, [code, code + 1])
        parts.append(np.arange(start + lo, start + hi))
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)


def _area_rows(result: Analysis, area: str) -> pd.DataFrame:
    return _plain(result.results.iloc[_area_positions(result, area)])


def _latest(
    result: Analysis, as_of: pd.Timestamp, columns: list[str] | None = None
) -> pd.DataFrame:
    """latest_per_indicator on the sorted results: the rows' positions are worked out once per
    date; ``columns`` (all when None) are picked before any text conversion."""
    res = result.results
    if not hasattr(result, "latest_positions"):
        rows = latest_per_indicator(res, as_of)
        return _plain(rows if columns is None else rows[columns])
    pos = result.latest_positions(as_of)
    cols = slice(None) if columns is None else res.columns.get_indexer(columns)
    return _plain(res.iloc[pos, cols])


def _latest_where(
    result: Analysis,
    as_of: pd.Timestamp,
    keep: dict[str, object],
    columns: list[str] | None = None,
) -> pd.DataFrame:
    """The latest rows whose ``column`` is among ``keep[column]`` (each condition a list of
    labels, or one label): the mask is found on the categorical rows, so only the kept rows
    are converted to text."""
    res = result.results
    if not hasattr(result, "latest_positions"):
        rows = _latest(result, as_of, columns)
        return rows.loc[_mask(rows, keep)]
    pos = result.latest_positions(as_of)
    mask = _mask(res.iloc[pos, res.columns.get_indexer(list(keep))], keep)
    cols = slice(None) if columns is None else res.columns.get_indexer(columns)
    return _plain(res.iloc[pos[mask], cols])


def _mask(rows: pd.DataFrame, keep: dict[str, object]) -> np.ndarray:
    mask = np.ones(len(rows), dtype=bool)
    for col, labels in keep.items():
        wanted = [labels] if isinstance(labels, str) else list(labels)
        mask &= rows[col].isin(wanted).to_numpy(dtype=bool, na_value=False)
    return mask


def _indicator_period(
    result: Analysis, indicator: str, period: str, columns: list[str] | None = None
) -> pd.DataFrame:
    """One indicator's rows for one period; ``columns`` (all when None) are picked before the
    text conversion."""
    rows = _block(result, indicator)
    keep = (rows["period"] == period).to_numpy(dtype=bool, na_value=False)
    return _plain(rows.loc[keep] if columns is None else rows.loc[keep, columns])


def _indicators(ds: Dataset, result: Analysis) -> tuple[catalogue.Indicator, ...]:
    """``ds.indicators()`` read from the analysis' indicator blocks (the indicators with rows)
    rather than from millions of values converted to text."""
    if not result.indicator_rows:
        return ds.indicators()
    present = set(result.indicator_rows)
    known = [i for i in catalogue.CATALOGUE if i.code in present]
    return tuple(known) + tuple(i for i in ds.extra_indicators if i.code in present)


def indicators_view(ds: Dataset, result: Analysis) -> tuple[catalogue.Indicator, ...]:
    """The dataset's indicators (catalogue order, then extras), for pickers: cheap where
    ``ds.indicators()`` converts every value's code to text (about 2 s at practice scale)."""
    return _indicators(ds, result)


# ── periods ──────────────────────────────────────────────────────────────────────────────
def period_options(ds: Dataset, result: Analysis) -> pd.DataFrame:
    """Reporting periods (label, end), oldest first: quarters where the data have them."""
    frame = result.periods if result.periods is not None else _period_table(ds.values)
    preferred = frame.loc[frame["kind"] == "quarter"]
    if preferred.empty:
        preferred = (
            frame.loc[frame["kind"] != "range"] if (frame["kind"] != "range").any() else frame
        )
    out = preferred.sort_values("end").drop_duplicates("end", keep="first")
    return out[["period", "end"]].reset_index(drop=True)


def _period_table(v: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "period": v["period"].astype(str),
            "kind": v["period_type"].astype(str),
            "end": v["period_end"],
        }
    ).drop_duplicates()


def as_of_date(ds: Dataset, result: Analysis, period: str | None) -> tuple[str, pd.Timestamp]:
    opts = period_options(ds, result)
    if opts.empty:
        raise InputError("this dataset has no periods to show")
    if period and period in set(opts["period"]):
        row = opts.loc[opts["period"] == period].iloc[0]
    else:
        row = opts.iloc[-1]
    return str(row["period"]), pd.Timestamp(row["end"])


def _members(ds: Dataset, parent: str) -> list[str]:
    """The codes of the areas under ``parent`` (a CCG's practices)."""
    return sorted(set(ds.areas.loc[ds.areas["parent"].astype(str) == parent, "code"].astype(str)))


def _in_parent(ds: Dataset, rows: pd.DataFrame, parent: str) -> pd.DataFrame:
    """Only the rows of areas under ``parent`` (a CCG's practices); all rows when blank."""
    if not parent:
        return rows
    return rows.loc[rows["area_code"].astype(str).isin(set(_members(ds, parent)))]


def _area_names(ds: Dataset) -> pd.Series:
    return ds.areas.set_index("code")["name"].astype(str)


def _sig_label(frame: pd.DataFrame, comparator: str) -> pd.DataFrame:
    """The rug's class: the 99.8% result, or "… (95% only)" where significant only at 95%."""
    p = SIG_PREFIX[comparator]
    # labelled once per distinct (95%, 99.8%) pair, not once per row
    c95, u95 = pd.factorize(frame[f"{p}sig_95"], use_na_sentinel=False)
    c998, u998 = pd.factorize(frame[f"{p}sig_998"], use_na_sentinel=False)
    pair, inverse = np.unique(c95.astype(np.int64) * len(u998) + c998, return_inverse=True)
    label = charts.significance_label(
        list(u95[pair // max(len(u998), 1)]), list(u998[pair % max(len(u998), 1)])
    )
    return frame.assign(sig=label.to_numpy()[inverse.reshape(-1)])


# ── overview ─────────────────────────────────────────────────────────────────────────────
def overview(
    ds: Dataset,
    result: Analysis,
    *,
    period: str | None,
    comparator: str = "england",
    region: str = "",
    stp: str = "",
    group_by: str = "domain",
    parent: str = "",
) -> dict[str, object]:
    label, as_of = as_of_date(ds, result, period)
    keep: dict[str, object] = {}
    if parent:
        keep["area_code"] = _members(ds, parent)
    if region:
        keep["region"] = region
    if stp:
        keep["stp"] = stp
    p = SIG_PREFIX[comparator]
    columns = [
        "area_code", "indicator", "period", "value", "suppressed", "region", "stp",
        f"{p}sig_95", f"{p}sig_998", "funnel_concern", "funnel_outlier", "funnel_z",
        "spc_point_type",
    ]  # fmt: skip
    rows = _latest_where(result, as_of, keep, columns)
    rows = _sig_label(rows, comparator)
    names = _area_names(ds)
    cat = catalogue.catalogue_frame().set_index("code")
    ind = rows["indicator"]
    cells = pd.DataFrame(
        {
            "area_code": rows["area_code"],
            "area_name": rows["area_code"].map(names).fillna(rows["area_code"]),
            "indicator": ind,
            "indicator_label": ind + " " + ind.map(cat["short_name"]).fillna(ind),
            "domain": ind.map(cat["domain"]).fillna("Other"),
            "clinical_priority": ind.map(cat["clinical_priority"]).fillna(""),
            "period": rows["period"],
            "value": rows["value"],
            "sig": rows["sig"],
            "suppressed": rows["suppressed"],
        }
    )
    cells["group"] = cells["domain"] if group_by == "domain" else cells["clinical_priority"]
    if group_by != "domain":
        cells = cells.loc[cells["group"] != ""]
    order = {g: i for i, g in enumerate(catalogue.DOMAINS + catalogue.CLINICAL_PRIORITIES)}
    cells = (
        cells.assign(_order=cells["group"].map(order).fillna(99))
        .sort_values(["_order", "indicator", "area_name"])
        .drop(columns="_order")
    )
    counts = (
        rows.assign(
            outlier=rows["funnel_concern"] == "concern",
            better=rows["funnel_concern"] == "better than expected",
            sc_concern=rows["spc_point_type"] == "special_cause_concern",
            sc_improve=rows["spc_point_type"] == "special_cause_improvement",
            worse=rows["sig"] == "worse",
        )
        .groupby("area_code")[["outlier", "better", "sc_concern", "sc_improve", "worse"]]
        .sum()
        .reset_index()
    )
    counts.insert(1, "area_name", counts["area_code"].map(names).fillna(counts["area_code"]))
    counts = counts.rename(
        columns={
            "outlier": "Funnel outliers (concern)",
            "better": "Funnel outliers (better)",
            "sc_concern": "Special cause concern",
            "sc_improve": "Special cause improvement",
            "worse": f"Worse than {COMPARATORS[comparator]}",
        }
    ).sort_values("Funnel outliers (concern)", ascending=False)
    n_tests = int(rows["funnel_outlier"].isin(["high", "low", ""]).sum())
    n_funnel = int(rows["funnel_z"].notna().sum())
    n_flags = int(rows["funnel_outlier"].isin(["high", "low"]).sum())
    return {
        "period": label,
        "as_of": as_of,
        "cells": cells.reset_index(drop=True),
        "counts": counts.reset_index(drop=True),
        "chance_note": outlier_stats.chance_note(n_funnel, n_flags, 0.998) if n_funnel else "",
        "n_tests": n_tests,
    }


# What ratings.rate reads: its required columns and both significance levels.
_RATED_COLUMNS = [
    "indicator", "area_code", "period", "period_end", "value", "suppressed", "value_type",
    "polarity", "quintile", "sig_95", "sig_998",
]  # fmt: skip


def ratings_table(
    ds: Dataset, result: Analysis, *, period: str | None, by: str = "clinical_priority"
) -> pd.DataFrame:
    _, as_of = as_of_date(ds, result, period)
    rows = _latest(result, as_of, _RATED_COLUMNS)
    rows = rows.assign(quintile=rows["quintile"])
    rated = ratings.rate(rows, by=by)
    names = _area_names(ds)
    rated.insert(1, "area_name", rated["area_code"].map(names).fillna(rated["area_code"]))
    return rated


# ── profile ──────────────────────────────────────────────────────────────────────────────
def profile(
    ds: Dataset, result: Analysis, *, area: str, period: str | None, comparator: str = "england"
) -> pd.DataFrame:
    """One row per indicator for ``area``: latest value, CI, comparators, rank, trend, SPC."""
    label, as_of = as_of_date(ds, result, period)
    ranks = _latest_ranks(result, as_of)
    if ranks is None:
        latest = _latest(result, as_of)
        mine = latest.loc[latest["area_code"] == area]
        ranks = _ranks(latest)
    else:
        mine = _latest_where(result, as_of, {"area_code": [area]})
    if mine.empty:
        return pd.DataFrame()
    cmp_col = CMP_VALUE[comparator]
    p = SIG_PREFIX[comparator]
    rank, n_ranked, stats = ranks
    mine = mine.assign(
        rank=rank.reindex(mine.index).to_numpy(), n_ranked=n_ranked.reindex(mine.index).to_numpy()
    ).set_index("indicator")
    trends = result.trends
    tr = trends.loc[trends["area_code"] == area].set_index("indicator")
    rows = []
    for ind in _indicators(ds, result):
        if ind.code not in mine.index:
            continue
        r = mine.loc[ind.code]
        st_ = stats.loc[ind.code]
        direction = tr["direction"].get(ind.code, "") if "direction" in tr else ""
        direction = "" if pd.isna(direction) else str(direction)
        sentence = narrative.narrate(
            indicator_name=ind.name,
            polarity_words=ind.polarity_words,
            value=r["value"],
            unit=ind.unit,
            lower_95=r["lower_95"],
            upper_95=r["upper_95"],
            comparator_name=COMPARATORS[comparator].replace("its ", "")
            if comparator == "england"
            else COMPARATORS[comparator],
            comparator_value=r[cmp_col],
            sig_95=r[f"{p}sig_95"],
            sig_998=r[f"{p}sig_998"],
            trend_direction=direction or None,
            spc_point_type=r["spc_point_type"] or None,
            suppressed=bool(r["suppressed"]),
            period=str(r["period"]),
        )
        rows.append(
            {
                "domain": ind.domain,
                "framework_area": ind.area,
                "clinical_priority": ind.clinical_priority or "",
                "indicator": ind.code,
                "label": f"{ind.code} {ind.short_name} ({ind.polarity_words})",
                "name": ind.name,
                "unit": ind.unit,
                "polarity": ind.polarity,
                "period": str(r["period"]),
                "value": r["value"],
                "lower_95": r["lower_95"],
                "upper_95": r["upper_95"],
                "england": r["england"],
                "region_value": r["region_value"],
                "peers_value": r["peers_value"],
                "comparator_value": r[cmp_col],
                "sig": r[f"{p}sig_998"],
                "sig_95": r[f"{p}sig_95"],
                "rank": r["rank"],
                "n_ranked": r["n_ranked"],
                "min": st_["min"],
                "q25": st_["25%"],
                "q75": st_["75%"],
                "max": st_["max"],
                "trend": direction,
                "spc_point_type": r["spc_point_type"],
                "funnel_concern": r["funnel_concern"],
                "suppressed": bool(r["suppressed"]),
                "note": str(r["note"]),
                "narrative": sentence,
            }
        )
    out = pd.DataFrame(rows)
    out.attrs["period"] = label
    return out


def _ranks(latest: pd.DataFrame) -> tuple[pd.Series, pd.Series, pd.DataFrame]:
    """Each latest row's rank within its indicator (1 = best; ties share the lowest rank),
    the number ranked, and each indicator's min, quartiles and max; by row label."""
    key = np.where(latest["polarity"] == "lower_is_better", latest["value"], -latest["value"])
    by = latest["indicator"]
    rank = pd.Series(key, index=latest.index).groupby(by.to_numpy()).rank(method="min")
    n_ranked = latest["value"].groupby(by.to_numpy()).transform("count")
    stats = latest.groupby(by.astype(str))["value"].describe(percentiles=[0.25, 0.75])
    return rank, n_ranked, stats


def _latest_ranks(
    result: Analysis, as_of: pd.Timestamp
) -> tuple[pd.Series, pd.Series, pd.DataFrame] | None:
    """_ranks of the latest rows, on the categorical columns, once per date (by results row)."""
    if not hasattr(result, "latest_positions"):
        return None
    memo = result.__dict__.setdefault("_memo", {})
    key = ("ranks", pd.Timestamp(as_of))
    if key not in memo:
        res = result.results
        pos = result.latest_positions(as_of)
        cols = res.columns.get_indexer(["indicator", "value", "polarity"])
        memo[key] = _ranks(res.iloc[pos, cols])
    return memo[key]


def what_changed_for_area(
    ds: Dataset, result: Analysis, *, area: str, period: str | None, comparator: str = "england"
) -> pd.DataFrame:
    """Indicators whose significance class changed since the previous period."""
    _, as_of = as_of_date(ds, result, period)
    res = _area_rows(result, area)
    res = res.loc[res["period_end"] <= as_of]
    res = res.sort_values("period_end")
    p = SIG_PREFIX[comparator]
    last_two = res.groupby("indicator").tail(2)
    rows = []
    for code, g in last_two.groupby("indicator"):
        if len(g) < 2:
            continue
        before, now = g.iloc[0], g.iloc[1]
        if before[f"{p}sig_998"] != now[f"{p}sig_998"] or (
            now["spc_point_type"].startswith("special")
            and not str(before["spc_point_type"]).startswith("special")
        ):
            ind = ds.indicator(code)
            rows.append(
                {
                    "indicator": code,
                    "name": ind.short_name,
                    "from_period": before["period"],
                    "to_period": now["period"],
                    "was": before[f"{p}sig_998"],
                    "now": now[f"{p}sig_998"],
                    "value_before": before["value"],
                    "value_now": now["value"],
                    "spc_now": now["spc_point_type"],
                }
            )
    return pd.DataFrame(rows)


# ── indicator explorer ───────────────────────────────────────────────────────────────────
def indicator_periods_view(ds: Dataset, result: Analysis, *, indicator: str) -> list[str]:
    """The indicator's periods in time order."""
    v = _block(result, indicator)[["period", "period_end"]]
    return list(v.drop_duplicates().sort_values("period_end")["period"].astype(str))


_FUNNEL_COLUMNS = ("area_code", "numerator", "denominator", "suppressed")
# Points on each drawn limit line. Vega works out every point of the four lines again on each
# change, through its expression interpreter: 60 points instead of 200 made an indicator change
# 27 ms sooner at CCG scale (paired browser runs, faster in 14 of 20). Straight segments between
# 60 points of the geometric grid stay within 0.12 px of the exact curve on the 460 px chart for
# every CCG-scale funnel of the demo, and within 0.44 px at practice scale (measured against a
# 1,000-point grid); tests/test_views.py pins a bound.
FUNNEL_LINE_POINTS = 60


def funnel_view(
    ds: Dataset,
    result: Analysis,
    *,
    indicator: str,
    period: str,
    limit: float = 99.8,
    adjust: bool = True,
    parent: str = "",
) -> dict[str, object]:
    """Funnel points with names and concern, limits on a plotting grid, and the summary.

    With ``parent`` (a CCG of practice-level data) the funnel is drawn among that CCG's
    practices only, around their own combined value: outliers within a CCG.
    """
    ind = ds.indicator(indicator)
    rows = _in_parent(
        ds, _indicator_period(result, indicator, period, list(_FUNNEL_COLUMNS)), parent
    )
    if ind.value_type not in FUNNEL_TYPE:
        return {"reason": f"a funnel plot needs counts; {ind.code} is a {ind.value_type}"}
    usable = rows.loc[~rows["suppressed"] & rows["numerator"].notna() & (rows["denominator"] > 0)]
    if len(usable) < 3:
        n_supp = int(rows["suppressed"].sum())
        return {
            "reason": f"too few areas with counts in {period} ({len(usable)}; {n_supp} suppressed)"
        }
    num, den = usable["numerator"].to_numpy(), usable["denominator"].to_numpy()
    scale = float(ind.multiplier)
    if ind.value_type == "rate" and not num.sum() > 0:
        # The funnel's centre is the areas' combined rate; with no events there is no funnel.
        return {"reason": f"no events among these areas in {period}"}
    if ind.value_type == "rate":
        national = num.sum() / den.sum()
        den_plot = den * national  # expected events at the national rate
        scale = national * ind.multiplier
    else:
        den_plot = den
    res = funnel.funnel(
        num,
        den_plot,
        FUNNEL_TYPE[ind.value_type],
        groups=usable["area_code"].to_numpy(),
        limit=limit,
        adjust=adjust,
        multiplier=scale,
    )
    names = _area_names(ds)
    pts = res.points.rename(columns={"group": "area_code"})
    pts["area_code"] = pts["area_code"].astype(str)
    pts["area_name"] = pts["area_code"].map(names).fillna(pts["area_code"])
    pts["concern"] = (
        funnel.polarity_concern(pts["outlier"], ind.polarity)
        if (ind.polarity != "no_judgement")
        else ""
    )
    grid = res.limits_grid(FUNNEL_LINE_POINTS)
    finding = narrative.funnel_finding(
        n_areas=len(pts),
        n_high=int((pts["outlier"] == "high").sum()),
        n_low=int((pts["outlier"] == "low").sum()),
        level=limit / 100,
        phi=res.phi if res.adjusted else None,
        area_word="areas",
        indicator_name=ind.short_name,
    )
    return {
        "points": pts,
        "limits": grid,
        "phi": res.phi,
        "tau2": res.tau2,
        "adjusted": res.adjusted,
        "target": res.target,
        "finding": finding,
        "x_title": (
            f"Expected events at the {'CCG' if parent else 'England'} rate"
            if ind.value_type == "rate"
            else ("Expected count" if ind.value_type == "ratio" else "Denominator (size of area)")
        ),
        "n_suppressed": int(rows["suppressed"].sum()),
        # Expected events under one (rare events in small areas, e.g. a rate per million at
        # practice level): the funnel method still flags them, on numbers too small to judge.
        "n_under_one": int((den_plot < 1).sum()) if ind.value_type in ("rate", "ratio") else 0,
    }


def ranked_view(
    ds: Dataset,
    result: Analysis,
    *,
    indicator: str,
    period: str,
    comparator: str = "england",
    parent: str = "",
) -> pd.DataFrame:
    rows = _in_parent(ds, _indicator_period(result, indicator, period), parent)
    rows = _sig_label(rows, comparator)
    names = _area_names(ds)
    out = pd.DataFrame(
        {
            "area_code": rows["area_code"],
            "area_name": rows["area_code"].map(names),
            "value": rows["value"],
            "lower_95": rows["lower_95"],
            "upper_95": rows["upper_95"],
            "lower_998": rows["lower_998"],
            "upper_998": rows["upper_998"],
            "numerator": rows["numerator"],
            "denominator": rows["denominator"],
            "sig": rows["sig"],
            "funnel_z": rows["funnel_z"],
            "outlier": rows["funnel_outlier"],
            "concern": rows["funnel_concern"],
            "comparator_value": rows[CMP_VALUE[comparator]],
            "england": rows["england"],
            "suppressed": rows["suppressed"],
            "note": rows["note"].astype(str),
        }
    )
    return out.sort_values("value", ascending=False, na_position="last").reset_index(drop=True)


_PERSISTENT_COLUMNS = (
    "indicator", "area_code", "period", "period_end", "funnel_outlier", "funnel_z", "suppressed",
    "value",
)  # fmt: skip


def persistent(
    ds: Dataset, result: Analysis, *, indicator: str, k: int = 3, n: int = 4
) -> pd.DataFrame:
    block = _block(result, indicator)
    if 1 <= k <= n and len(block):
        # Only the indicator's last n period ends can count (the function's own window), and
        # only the columns it reads: text conversion of the whole block is most of the cost.
        end = block["period_end"].to_numpy()
        ends = np.unique(end[~np.isnat(end)])
        window = end >= ends[-n] if len(ends) > n else ~np.isnat(end)
        block = block.loc[window, [c for c in _PERSISTENT_COLUMNS if c in block.columns]]
    out = outlier_stats.persistent_outliers(_plain(block), k=k, n=n)
    if len(out):
        out.insert(1, "area_name", out["area_code"].map(_area_names(ds)))
    return out


# ── trends ───────────────────────────────────────────────────────────────────────────────
def spc_view(
    ds: Dataset,
    result: Analysis,
    *,
    area: str,
    indicator: str,
    rebase: tuple[str, ...] = (),
    target: float | None = None,
    rules: str = "2019",
) -> dict[str, object]:
    ind = ds.indicator(indicator)
    block = _block(result, indicator)
    rows = _plain(block.loc[(block["area_code"] == area).to_numpy(dtype=bool, na_value=False)])
    rows = rows.sort_values("period_end")
    if rows.empty:
        return {"reason": "no data for this area and indicator"}
    frame = pd.DataFrame({"series": area, "period": rows["period_end"], "value": rows["value"]})
    improvement = {"higher_is_better": "increase", "lower_is_better": "decrease"}.get(
        ind.polarity, "neutral"
    )
    rebase_dates = [
        rows.loc[rows["period"] == r, "period_end"].iloc[0]
        for r in rebase
        if (rows["period"] == r).any()
    ]
    pts = spc.xmr(
        frame, improvement=improvement, rebase=rebase_dates or None, target=target, rules=rules
    )
    pts = pts.assign(
        period=rows["period"].astype(str).to_numpy(), period_end=rows["period_end"].to_numpy()
    )
    summary = spc.xmr_summary(pts)
    types = pts["point_type"].astype(str).to_numpy()
    run = 1
    while run < len(types) and types[-1 - run] == types[-1]:
        run += 1
    finding = narrative.spc_finding(
        point_type=str(types[-1]),
        n_consecutive=run,
        n_points=int(pts["value"].notna().sum()),
        period=str(rows["period"].iloc[-1]),
        indicator_name=ind.short_name,
    )
    return {
        "points": pts,
        "summary": summary,
        "finding": finding,
        "n_suppressed": int(rows["suppressed"].sum()),
    }


def small_multiples(ds: Dataset, result: Analysis, *, area: str) -> pd.DataFrame:
    positions = _area_positions(result, area)
    rows = _plain(result.results.iloc[positions])
    limits = result.spc_limits_at(positions).set_axis(rows.index)
    cat = catalogue.catalogue_frame().set_index("code")
    return pd.DataFrame(
        {
            "indicator": rows["indicator"],
            "label": rows["indicator"] + " " + rows["indicator"].map(cat["short_name"]).fillna(""),
            "period": rows["period"],
            "period_end": rows["period_end"],
            "value": rows["value"],
            "mean": limits["mean"],
            "lpl": limits["lpl"],
            "upl": limits["upl"],
            "point_type": rows["spc_point_type"],
        }
    )


def national_changes(ds: Dataset, result: Analysis, *, period: str | None) -> pd.DataFrame:
    """Areas whose latest point is special cause (improvement or concern), per indicator."""
    _, as_of = as_of_date(ds, result, period)
    res = result.results
    eligible = (res["period_end"] <= as_of).to_numpy()
    if not result.indicator_rows:
        rows = res.loc[eligible]
        out = outlier_stats.latest_special_cause(rows)
    else:
        out = _latest_special_cause(res, eligible)
    if len(out):
        out.insert(1, "area_name", out["area_code"].map(_area_names(ds)))
    return out


def _latest_special_cause(res: pd.DataFrame, eligible: np.ndarray) -> pd.DataFrame:
    """latest_special_cause over the eligible rows, on the integer codes of the sorted results.

    Rows are sorted by series then period end, so eligibility is a prefix of each series and a
    series' last eligible row is its latest point; runs, lengths and each indicator's latest
    period are counted on codes, and only the rows returned are turned into text, in the frame
    and order ``outliers.latest_special_cause`` gives.
    """
    rows = np.flatnonzero(eligible)
    if not rows.size:
        return outlier_stats.latest_special_cause(res.iloc[:0].pipe(_plain))
    ind = res["indicator"].cat.codes.to_numpy().astype(np.int64)[rows]
    area = res["area_code"].cat.codes.to_numpy().astype(np.int64)[rows]
    kind = res["spc_point_type"].cat.codes.to_numpy()[rows]
    end = res["period_end"].to_numpy()[rows]
    new_series = np.r_[True, (ind[1:] != ind[:-1]) | (area[1:] != area[:-1])]
    series = np.cumsum(new_series) - 1
    run = np.cumsum(new_series | np.r_[True, kind[1:] != kind[:-1]]) - 1
    last = np.r_[new_series[1:], True]
    labels = res["spc_point_type"].cat.categories.astype(str)
    variation = pd.Series(labels, dtype=object).map(outlier_stats.SPECIAL_CAUSE).to_numpy()
    picked = np.flatnonzero(last & pd.notna(variation[kind]))
    # each indicator's latest eligible period end (ind is non-decreasing down the rows)
    starts = np.flatnonzero(np.r_[True, ind[1:] != ind[:-1]])
    ind_latest = np.maximum.reduceat(end.view(np.int64), starts)
    latest_of = np.repeat(ind_latest, np.diff(np.r_[starts, len(ind)]))
    period = res["period"].cat.codes.to_numpy()[rows][picked]
    text = {c: res[c].cat.categories.astype(str).to_numpy(dtype=object) for c in _SC_TEXT}
    data = pd.DataFrame(
        {
            "indicator": text["indicator"][ind[picked]],
            "area_code": text["area_code"][area[picked]],
            "period": text["period"][period],
            "period_end": end[picked],
            "value": res["value"].to_numpy(dtype=float)[rows][picked],
            "spc_point_type": text["spc_point_type"][kind[picked]],
        }
    )
    out = data.assign(
        variation=variation[kind[picked]],
        n_consecutive=np.bincount(run)[run[picked]],
        n_points=np.bincount(series)[series[picked]],
        is_latest_period=end[picked].view(np.int64) == latest_of[picked],
    )
    return outlier_stats.in_report_order(out)


_SC_TEXT = ("indicator", "area_code", "period", "spc_point_type")


def national_trend(ds: Dataset, result: Analysis, *, indicator: str) -> pd.DataFrame:
    """England's value per period with its 95% CI (summed counts; Fingertips methods)."""
    ind = ds.indicator(indicator)
    c = result.comparators
    rows = c.loc[(c["comparator"] == "england") & (c["indicator"] == indicator)]
    ends = (
        _plain(_block(result, indicator)[["indicator", "period", "period_end"]])
        .drop_duplicates(["indicator", "period"])
        .set_index(["indicator", "period"])["period_end"]
    )
    rows = rows.assign(period_end=[ends.get((indicator, p)) for p in rows["period"]])
    rows = rows.assign(lower_95=np.nan, upper_95=np.nan)
    if ind.value_type in ("proportion", "rate", "ratio", "count") and (rows["den"] > 0).all():
        cis = ci_mod.indicator_cis(
            rows["num"].to_numpy(),
            rows["den"].to_numpy(),
            ind.value_type,
            multiplier=float(ind.multiplier),
            confidence=0.95,
        )
        rows = rows.assign(lower_95=cis["lower_95"].to_numpy(), upper_95=cis["upper_95"].to_numpy())
    return rows.sort_values("period_end").reset_index(drop=True)


# ── compare ──────────────────────────────────────────────────────────────────────────────
def compare(
    ds: Dataset, result: Analysis, *, area: str, peers: list[str], period: str | None, group: str
) -> pd.DataFrame:
    """The area beside its peers on every indicator of a domain or clinical priority."""
    _, as_of = as_of_date(ds, result, period)
    inds = {i.code for i in catalogue.CATALOGUE if group in (i.domain, i.clinical_priority)}
    rows = _latest_where(result, as_of, {"indicator": sorted(inds), "area_code": [area, *peers]})
    names = _area_names(ds)
    return pd.DataFrame(
        {
            "indicator": rows["indicator"],
            "area_code": rows["area_code"],
            "area_name": rows["area_code"].map(names),
            "is_focus": rows["area_code"] == area,
            "value": rows["value"],
            "lower_95": rows["lower_95"],
            "upper_95": rows["upper_95"],
            "sig_england": rows["sig_998"],
            "sig_region": rows["region_sig_998"],
            "sig_stp": rows["stp_sig_998"],
            "sig_peers": rows["peers_sig_998"],
            "period": rows["period"],
        }
    ).reset_index(drop=True)


def peer_set(
    ds: Dataset, result: Analysis, *, area: str, kind: str, custom: tuple[str, ...] = ()
) -> dict[str, object]:
    """The peers of ``area`` of one kind, with the reasons (variables and distances)."""
    areas = ds.areas
    if kind == "custom":
        return {"peers": tuple(custom), "why": pd.DataFrame(), "explanation": "Hand-picked peers."}
    if kind in ("region", "stp"):
        groups = peers_mod.peer_groups(areas, kind)
        members = tuple(c for c in groups.get(area, []) if c != area)
        label = areas.loc[areas["code"] == area, kind]
        where = label.iloc[0] if len(label) else ""
        return {
            "peers": members,
            "why": pd.DataFrame(),
            "explanation": f"Every other area in the same {kind.upper() if kind == 'stp' else kind}"
            f" ({where}).",
        }
    variables = [c for c in _characteristics(areas)]
    has_list = "peers" in areas and areas["peers"].astype(str).str.len().gt(0).all()
    if not has_list and not variables:
        return {
            "peers": (),
            "why": pd.DataFrame(),
            "explanation": "This areas table has no published similar-10 list (a peers column) "
            "and no characteristics such as population or deprivation to find similar areas "
            "by: add them to the areas file, or compare with the same region, STP or "
            "hand-picked peers.",
        }
    groups = peers_mod.peer_groups(areas, "similar10", variables=variables)
    members = tuple(groups.get(area, []))
    why = (
        peers_mod.why_peers(areas, area, list(members), variables)
        if variables and members
        else pd.DataFrame()
    )
    explanation = (
        "The published list of the 10 most similar areas (as in the areas table)."
        if has_list
        else "The 10 nearest areas by Euclidean distance on standardised characteristics: "
        + ", ".join(variables)
        + "."
    )
    if has_list and variables:
        explanation += (
            " The table shows how close each listed peer is on the characteristics "
            "available here: " + ", ".join(variables) + "."
        )
    return {"peers": members, "why": why, "explanation": explanation}


def _characteristics(areas: pd.DataFrame) -> list[str]:
    skip = {"code", "name", "type", "parent", "region", "stp", "peers", "successor", "active_to"}
    return [
        c
        for c in areas.columns
        if c not in skip and pd.api.types.is_numeric_dtype(areas[c]) and areas[c].notna().sum() > 2
    ]


def robustness(
    ds: Dataset, result: Analysis, *, area: str, period: str | None, group: str
) -> pd.DataFrame:
    """Each indicator's result against every comparator, and whether the finding holds."""
    _, as_of = as_of_date(ds, result, period)
    inds = {i.code for i in catalogue.CATALOGUE if group in (i.domain, i.clinical_priority)}
    rows = _latest_where(result, as_of, {"indicator": sorted(inds), "area_code": [area]})
    out = pd.DataFrame(
        {
            "indicator": rows["indicator"],
            "name": rows["indicator"].map(lambda c: ds.indicator(c).short_name),
            "England": rows["sig_998"],
            "Region": rows["region_sig_998"],
            "STP": rows["stp_sig_998"],
            "Similar 10": rows["peers_sig_998"],
        }
    )
    cols = ["England", "Region", "STP", "Similar 10"]
    compared = out[cols].where(out[cols] != "not compared")
    out["holds under every comparator"] = np.where(
        compared.nunique(axis=1, dropna=True) <= 1, "yes", "no: depends on the comparator"
    )
    return out.reset_index(drop=True)
