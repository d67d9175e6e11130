"""The whole-dataset analysis: every statistic for every indicator × area × period, at once.

One call computes CIs, comparator values (England, region, STP, peers), Fingertips benchmark
classes, quintiles, funnel z-scores and outlier flags, SPC point types and trend tests for the
whole dataset, vectorised across all series. The app caches the result and filters it; the CLI
and packs read the same frames, so every face of the tool says the same thing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from iaf.catalogue import Indicator
from iaf.model import Dataset
from iaf.stats import benchmark, ci, funnel, spc, trend

COMPARATORS: dict[str, str] = {
    "england": "England",
    "region": "its region",
    "stp": "its STP",
    "peers": "its similar-10 peers",
}
COUNTED = ("proportion", "rate", "ratio", "count")
IMPROVEMENT = {"higher_is_better": "increase", "lower_is_better": "decrease"}
FUNNEL_TYPE = {"proportion": "PR", "ratio": "SR", "rate": "SR"}


@dataclass(frozen=True)
class Options:
    """What the analysis computes (the app's Methods page states these defaults)."""

    funnel_limit: float = 99.8
    sr_method: str = "SHMI"
    funnel_adjust: bool = True
    trim: float = 0.1
    spc_rules: str = "2019"
    spc_screen_outliers: bool = True


@dataclass(frozen=True)
class Analysis:
    """All results for one dataset; frames are long and tidy, filtered by the pages."""

    results: pd.DataFrame
    comparators: pd.DataFrame
    funnels: pd.DataFrame
    trends: pd.DataFrame
    options: Options = field(default_factory=Options)


def _indicator_table(dataset: Dataset) -> pd.DataFrame:
    inds: list[Indicator] = list(dataset.indicators())
    return pd.DataFrame(
        {
            "indicator": [i.code for i in inds],
            "value_type": [i.value_type for i in inds],
            "polarity": [i.polarity for i in inds],
            "multiplier": [float(i.multiplier) for i in inds],
        }
    )


def with_cis(values: pd.DataFrame, meta: pd.DataFrame) -> pd.DataFrame:
    """Values with CIs: supplied limits kept, missing ones computed by the Fingertips method."""
    out = values.merge(meta, on="indicator", how="left")
    out["ci_method"] = pd.Series("", index=out.index, dtype="object")
    supplied = out["lower_95"].notna() & out["upper_95"].notna()
    out.loc[supplied, "ci_method"] = "supplied"
    for vtype in COUNTED:
        rows = (
            (out["value_type"] == vtype)
            & ~supplied
            & out["numerator"].notna()
            & (out["denominator"].notna() | (vtype == "count"))
            & (out["denominator"] > 0)
        )
        if not rows.any():
            continue
        sub = out.loc[rows]
        cis = ci.indicator_cis(
            sub["numerator"].to_numpy(),
            sub["denominator"].to_numpy(),
            vtype,
            multiplier=sub["multiplier"].to_numpy(),
        )
        for col in ("lower_95", "upper_95", "lower_998", "upper_998"):
            out.loc[rows, col] = cis[col].to_numpy()
        out.loc[rows, "ci_method"] = cis["method"].astype(object).fillna("").to_numpy()
    return out


def _aggregate(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Comparator values: summed counts for counted indicators, the mean value otherwise."""
    live = frame.loc[~frame["suppressed"]]
    has_counts = live["numerator"].notna() & live["denominator"].notna()
    g = live.assign(
        num=live["numerator"].where(has_counts),
        den=live["denominator"].where(has_counts),
    ).groupby(keys, observed=True, sort=False)
    agg = g.agg(
        num=("num", "sum"),
        den=("den", "sum"),
        mean_value=("value", "mean"),
        n_areas=("value", "count"),
        value_type=("value_type", "first"),
        multiplier=("multiplier", "first"),
    ).reset_index()
    counted = agg["value_type"].isin(COUNTED) & (agg["den"] > 0)
    agg["value"] = np.where(counted, agg["num"] / agg["den"] * agg["multiplier"], agg["mean_value"])
    return agg.drop(columns=["mean_value"])


def _comparator_frames(results: pd.DataFrame, areas: pd.DataFrame) -> pd.DataFrame:
    """England, region and STP values per indicator × period (× group), in one long frame."""
    keys = ["indicator", "period"]
    frames = [_aggregate(results, keys).assign(comparator="england", group="England")]
    for kind in ("region", "stp"):
        if kind in results and results[kind].astype(str).str.len().gt(0).any():
            agg = _aggregate(results.loc[results[kind] != ""], [*keys, kind])
            frames.append(agg.rename(columns={kind: "group"}).assign(comparator=kind))
    out = pd.concat(frames, ignore_index=True)
    out["group"] = out["group"].astype(str)
    for col in ("indicator", "period"):
        out[col] = out[col].astype(str)
    return out


def _peer_values(results: pd.DataFrame, areas: pd.DataFrame) -> pd.DataFrame:
    """Each area's peer-group value: its peers' summed counts (or mean value), itself excluded."""
    if "peers" not in areas or not areas["peers"].astype(str).str.len().gt(0).any():
        return pd.DataFrame(columns=["area_code", "indicator", "period", "value"])
    pairs = (
        areas.loc[:, ["code", "peers"]]
        .assign(peer=lambda f: f["peers"].astype(str).str.split(";"))
        .explode("peer")
        .assign(peer=lambda f: f["peer"].str.strip())
        .query("peer != ''")
        .rename(columns={"code": "owner"})[["owner", "peer"]]
    )
    slim = results.loc[
        :,
        [
            "area_code",
            "indicator",
            "period",
            "numerator",
            "denominator",
            "value",
            "suppressed",
            "value_type",
            "multiplier",
        ],
    ].assign(area_code=lambda f: f["area_code"].astype(str))
    joined = pairs.merge(slim, left_on="peer", right_on="area_code").drop(columns="area_code")
    agg = _aggregate(
        joined.rename(columns={"owner": "area_code"}), ["area_code", "indicator", "period"]
    )
    return agg[["area_code", "indicator", "period", "value", "n_areas"]]


def _significance(results: pd.DataFrame, comparator_value: pd.Series, prefix: str) -> None:
    """Fingertips comparison at 95% and 99.8%, one call per polarity (vectorised within)."""
    for level in ("95", "998"):
        out = np.full(len(results), "not compared", dtype=object)
        for polarity in results["polarity"].dropna().unique():
            rows = (results["polarity"] == polarity).to_numpy()
            out[rows] = benchmark.compare_with_benchmark(
                results[f"lower_{level}"].to_numpy()[rows],
                results[f"upper_{level}"].to_numpy()[rows],
                comparator_value.to_numpy()[rows],
                str(polarity),
            )
        results[f"{prefix}sig_{level}"] = out


def _quintiles(results: pd.DataFrame) -> pd.Series:
    """Quintile within indicator × period by PHE's method; 1 = best for polar indicators.

    PHE's ``invert`` puts the highest values in quintile 1: used where higher is better (and,
    as PHE's default, for no-judgement indicators); lower-is-better puts the lowest first.
    """
    out = pd.Series(pd.NA, index=results.index, dtype="Int64")
    groups = results["indicator"].astype(str) + "|" + results["period"].astype(str)
    lower_first = (results["polarity"] == "lower_is_better").to_numpy()
    for invert, rows in ((True, ~lower_first), (False, lower_first)):
        if rows.any():
            out.iloc[np.flatnonzero(rows)] = benchmark.phe_quantile(
                results["value"].to_numpy()[rows],
                nquantiles=5,
                invert=invert,
                groups=groups.to_numpy()[rows],
            )
    return out


def _funnels(results: pd.DataFrame, options: Options) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Funnel z and outlier flags per indicator × period, for indicators with counts.

    Rates are funnelled as standardised ratios: observed events against expected = the
    denominator × the national rate for that period (Spiegelhalter 2005, Poisson case).
    """
    frames, summaries = [], []
    usable = results.loc[
        results["value_type"].isin(list(FUNNEL_TYPE))
        & ~results["suppressed"]
        & results["numerator"].notna()
        & (results["denominator"] > 0)
    ]
    for vtype, ftype in FUNNEL_TYPE.items():
        sub = usable.loc[usable["value_type"] == vtype]
        if sub.empty:
            continue
        num, den = sub["numerator"], sub["denominator"]
        if vtype == "rate":
            keys = [sub["indicator"].astype(str), sub["period"].astype(str)]
            national = num.groupby(keys).transform("sum") / den.groupby(keys).transform("sum")
            den = den * national
        frame = pd.DataFrame(
            {
                "indicator": sub["indicator"].astype(str),
                "period": sub["period"].astype(str),
                "area_code": sub["area_code"].astype(str),
                "numerator": num,
                "denominator": den,
            }
        )
        points, summary = funnel.funnel_by(
            frame,
            by=["indicator", "period"],
            numerator="numerator",
            denominator="denominator",
            area="area_code",
            data_type=ftype,
            limit=options.funnel_limit,
            sr_method=options.sr_method,
            adjust=options.funnel_adjust,
            trim=options.trim,
        )
        frames.append(points.assign(funnel_type=ftype))
        summaries.append(summary.assign(funnel_type=ftype, value_type=vtype))
    if not frames:
        return pd.DataFrame(), pd.DataFrame()
    return pd.concat(frames, ignore_index=True), pd.concat(summaries, ignore_index=True)


def _concern(outlier: pd.Series, polarity: pd.Series) -> np.ndarray:
    """Funnel outliers judged through polarity (high-and-better is not a concern)."""
    out = np.full(len(outlier), "", dtype=object)
    for pol in ("higher_is_better", "lower_is_better"):
        rows = (polarity == pol).to_numpy()
        if rows.any():
            out[rows] = funnel.polarity_concern(outlier[rows].to_numpy(), pol)
    return out


def _spc(results: pd.DataFrame, options: Options) -> pd.DataFrame:
    """XmR point types for every area × indicator series, one call per polarity direction.

    Series are keyed by integers (area code × indicator code), the fast route through ``xmr``.
    """
    area_codes, areas = pd.factorize(results["area_code"])
    ind_codes, inds = pd.factorize(results["indicator"])
    key = area_codes.astype(np.int64) * len(inds) + ind_codes
    outs = []
    for polarity in results["polarity"].dropna().unique():
        rows = (results["polarity"] == polarity).to_numpy()
        frame = pd.DataFrame(
            {
                "series": key[rows],
                "period": results["period_end"].to_numpy()[rows],
                "value": results["value"].to_numpy()[rows],
            }
        )
        outs.append(
            spc.xmr(
                frame,
                improvement=IMPROVEMENT.get(str(polarity), "neutral"),
                rules=options.spc_rules,
                screen_outliers=options.spc_screen_outliers,
            )
        )
    pts = pd.concat(outs, ignore_index=True)
    series = pts["series"].to_numpy(dtype=np.int64)
    return pd.DataFrame(
        {
            "area_code": np.asarray(areas)[series // len(inds)],
            "indicator": np.asarray(inds)[series % len(inds)],
            "period_end": pts["period"].to_numpy(),
            "spc_mean": pts["mean"].to_numpy(),
            "spc_lpl": pts["lpl"].to_numpy(),
            "spc_upl": pts["upl"].to_numpy(),
            "spc_point_type": pts["point_type"].astype(str).to_numpy(),
        }
    )


def _trends(results: pd.DataFrame) -> pd.DataFrame:
    keys = ["area_code", "indicator"]
    frame = results.assign(
        area_code=results["area_code"].astype(str),
        indicator=results["indicator"].astype(str),
        t=results["period_end"],
    )
    recent = trend.fingertips_recent_trend(
        frame.loc[frame["value_type"].isin(["proportion", "rate", "ratio"])],
        series=keys,
        order="t",
        numerator="numerator",
        denominator="denominator",
        value_type="value_type",
        polarity="polarity",
        value="value",
        lower_ci="lower_95",
        upper_ci="upper_95",
        suppressed="suppressed",
    )
    valid = frame.loc[frame["value"].notna()].assign(t=lambda f: f["t"].rank(method="dense"))
    mk = trend.mann_kendall(valid, series=keys, time="t", value="value")
    ts = trend.theil_sen(valid, series=keys, time="t", value="value")
    out = mk.merge(ts, on=keys, how="outer", suffixes=("", "_ts"))
    return out.merge(recent, on=keys, how="left", suffixes=("", "_recent"))


def analyse(dataset: Dataset, options: Options | None = None) -> Analysis:
    """Every statistic for every indicator × area × period of ``dataset``."""
    options = options or Options()
    meta = _indicator_table(dataset)
    areas = dataset.areas
    values = dataset.values
    results = with_cis(values, meta)
    area_attrs = areas.loc[:, ["code", "region", "stp"]].rename(columns={"code": "area_code"})
    results = results.assign(area_code=results["area_code"].astype(str)).merge(
        area_attrs, on="area_code", how="left"
    )
    for col in ("region", "stp"):
        results[col] = results[col].fillna("").astype(str)
    results["indicator"] = results["indicator"].astype(str)
    results["period"] = results["period"].astype(str)

    comparators = _comparator_frames(results, areas)
    eng = comparators.loc[comparators["comparator"] == "england", ["indicator", "period", "value"]]
    results = results.merge(
        eng.rename(columns={"value": "england"}), on=["indicator", "period"], how="left"
    )
    _significance(results, results["england"], "")
    for kind in ("region", "stp"):
        sub = comparators.loc[
            comparators["comparator"] == kind, ["indicator", "period", "group", "value"]
        ]
        results = results.merge(
            sub.rename(columns={"group": kind, "value": f"{kind}_value"}),
            on=["indicator", "period", kind],
            how="left",
        )
        if f"{kind}_value" not in results:
            results[f"{kind}_value"] = np.nan
        _significance(results, results[f"{kind}_value"], f"{kind}_")
    peers = _peer_values(results, areas)
    results = results.merge(
        peers[["area_code", "indicator", "period", "value"]].rename(
            columns={"value": "peers_value"}
        ),
        on=["area_code", "indicator", "period"],
        how="left",
    )
    _significance(results, results["peers_value"], "peers_")
    results["quintile"] = _quintiles(results)

    fpoints, fsummary = _funnels(results, options)
    if len(fpoints):
        fcols = fpoints.rename(
            columns={"group": "area_code", "z": "funnel_z", "outlier": "funnel_outlier"}
        )[["indicator", "period", "area_code", "funnel_z", "funnel_outlier"]]
        results = results.merge(fcols, on=["indicator", "period", "area_code"], how="left")
    else:
        results["funnel_z"] = np.nan
        results["funnel_outlier"] = ""
    results["funnel_outlier"] = results["funnel_outlier"].fillna("").astype(str)
    results["funnel_concern"] = _concern(results["funnel_outlier"], results["polarity"])
    spc_points = _spc(results, options)
    results = results.merge(spc_points, on=["area_code", "indicator", "period_end"], how="left")
    results["spc_point_type"] = results["spc_point_type"].fillna("").astype(str)
    trends = _trends(results)
    results = results.sort_values(["indicator", "area_code", "period_end"]).reset_index(drop=True)
    return Analysis(results, comparators, fsummary, trends, options)


def latest_per_indicator(results: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    """For each indicator, the rows of its latest period ending on or before ``as_of``."""
    eligible = results.loc[results["period_end"] <= as_of]
    last = eligible.groupby("indicator")["period_end"].transform("max")
    return eligible.loc[eligible["period_end"] == last]
