"""The whole-dataset analysis: every statistic for every indicator × area × period, at once.

One call computes CIs, comparator values (England, region, STP, peers), Fingertips benchmark
classes, quintiles, funnel z-scores and outlier flags, SPC point types and trend tests for the
whole dataset, vectorised across all series. The app caches the result and filters it; the CLI
and packs read the same frames, so every face of the tool says the same thing.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from functools import cached_property
from itertools import pairwise
from typing import Any

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
    """All results for one dataset; frames are long and tidy, filtered by the pages.

    ``results`` is sorted by indicator, area and period end, with its text columns categorical;
    ``indicator_rows`` maps each indicator to its (start, stop) block of rows, so a view can take
    one indicator's rows without scanning millions.
    """

    results: pd.DataFrame
    comparators: pd.DataFrame
    funnels: pd.DataFrame
    trends: pd.DataFrame
    options: Options = field(default_factory=Options)
    indicator_rows: dict[str, tuple[int, int]] = field(default_factory=dict)
    periods: pd.DataFrame | None = None
    # XmR mean and process limits, one row per area × indicator series (the analysis does not
    # rebase, so a series has one set): series i owns results rows series_starts[i] up to the
    # next start. Held per series, not per row: 170 MB less at practice scale.
    spc_limits: pd.DataFrame | None = None
    series_starts: np.ndarray | None = None
    # Figures derived on first use and kept (e.g. each as-of date's latest rows): the app
    # shares one Analysis across pages, so each is worked out once, not on every click.
    _memo: dict[Any, Any] = field(default_factory=dict, compare=False, repr=False)

    def rows_of(self, indicator: str) -> pd.DataFrame:
        """The results rows of one indicator (a slice of the sorted frame)."""
        start, stop = self.indicator_rows.get(str(indicator), (0, 0))
        return self.results.iloc[start:stop]

    def spc_limits_at(self, positions: np.ndarray) -> pd.DataFrame:
        """The XmR ``mean``, ``lpl`` and ``upl`` of the series of each results row at
        ``positions``, in that order (index 0..n-1)."""
        if self.spc_limits is None or self.series_starts is None:
            return pd.DataFrame(np.nan, index=range(len(positions)), columns=SPC_LIMITS)
        series = np.searchsorted(self.series_starts, np.asarray(positions), side="right") - 1
        return self.spc_limits.iloc[series].reset_index(drop=True)

    def series_trends(self) -> pd.DataFrame:
        """Mann–Kendall (n, kendall_s, kendall_tau, z, p_value, method) and Theil–Sen (n_ts,
        slope, intercept, method_ts) per area × indicator series, beside ``trends``' recent
        trend columns, rows as ``trends``: computed on first call (no page reads them, and at
        practice scale they cost seconds), then kept."""
        memo = self.__dict__.setdefault("_memo", {})
        if "series_trends" not in memo:
            tests = _trend_tests(_trend_inputs(self.results))
            recent = self.trends.drop(columns=["area_code", "indicator"])
            memo["series_trends"] = pd.concat([tests, recent], axis=1)
        return memo["series_trends"]

    def latest_positions(self, as_of: pd.Timestamp) -> np.ndarray:
        """Row positions of each indicator's latest period ending on or before ``as_of``
        (the rows ``latest_per_indicator`` keeps), in results order; computed once per date."""
        memo = self.__dict__.setdefault("_memo", {})
        key = ("latest", pd.Timestamp(as_of))
        if key not in memo:
            memo[key] = self._latest_positions(pd.Timestamp(as_of))
        return memo[key]

    def _latest_positions(self, as_of: pd.Timestamp) -> np.ndarray:
        res = self.results
        if not self.indicator_rows:
            keep = res.index.isin(latest_per_indicator(res, as_of).index)
            return np.flatnonzero(keep)
        end = res["period_end"].to_numpy()
        parts = []
        for start, stop in self.indicator_rows.values():
            block = end[start:stop]
            ok = block <= np.datetime64(as_of)
            if ok.any():
                parts.append(start + np.flatnonzero(ok & (block == block[ok].max())))
        return np.sort(np.concatenate(parts)) if parts else np.zeros(0, dtype=np.int64)


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


# ── integer codes ────────────────────────────────────────────────────────────────────────
def _ranked(column: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Codes numbered in the labels' sort order, and the sorted labels (as text).

    Every key is worked on as these integers: comparing, grouping and sorting codes is what
    makes millions of rows cheap, and their order is the order the text would sort in.
    """
    if isinstance(column.dtype, pd.CategoricalDtype):
        codes = column.cat.codes.to_numpy()
        labels = np.asarray(column.cat.categories.astype(str), dtype=object)
    else:
        codes, uniques = pd.factorize(column, sort=False)
        labels = np.asarray(pd.Index(uniques).astype(str), dtype=object)
    if (codes < 0).any():  # a missing key is its own label, as astype(str) would spell it
        labels = np.r_[labels, "nan"].astype(object)
        codes = np.where(codes < 0, len(labels) - 1, codes)
    order = np.argsort(labels, kind="stable")
    if (order == np.arange(len(labels))).all():  # already in sort order: the codes are ranks
        return codes.astype(np.int32), labels  # 4 bytes a row: the codes live all along
    rank = np.empty(len(labels), dtype=np.int32)
    rank[order] = np.arange(len(labels), dtype=np.int32)
    return rank[codes], labels[order]


def _labelled(labels: np.ndarray) -> pd.Categorical:
    """A categorical of per-indicator text (None for missing), to be indexed by row codes."""
    known = sorted({str(v) for v in labels if v is not None})
    codes = np.array([-1 if v is None else known.index(str(v)) for v in labels], dtype=np.int8)
    return pd.Categorical.from_codes(codes, categories=pd.Index(known, dtype="str"))


def _categorical(codes: np.ndarray, labels: Any) -> pd.Categorical:
    cats = pd.Index(np.asarray(labels, dtype=object), dtype="str")
    return pd.Categorical.from_codes(np.asarray(codes), categories=cats, validate=False)


def _unique_inverse(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """np.unique(x, return_inverse=True), by counting when x holds small whole numbers."""
    finite = np.isfinite(x)
    if finite.all() and x.size and x.min() >= 0 and x.max() < 2**24 and (x == np.floor(x)).all():
        xi = x.astype(np.int64)
        present = np.zeros(int(xi.max()) + 1, dtype=bool)
        present[xi] = True
        uniques = np.flatnonzero(present)
        position = np.cumsum(present) - 1
        return uniques.astype(np.float64), position[xi]
    uniques, inverse = np.unique(x, return_inverse=True)
    return uniques, inverse.reshape(-1)


# ── confidence intervals ─────────────────────────────────────────────────────────────────
CI_METHODS = ("", "supplied", "Wilson", "Exact", "Byars")
CONFIDENCE = {"95": 0.95, "998": 0.998}
_CI_SLICE_ROWS = 1_000_000


def _cis(
    num: np.ndarray,
    den: np.ndarray,
    vtype: np.ndarray,
    mult: np.ndarray,
    limits: dict[str, np.ndarray],
    ind: np.ndarray | None = None,
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Supplied limits kept, missing ones computed by the Fingertips method (codes of CI_METHODS).

    Poisson limits depend on the count alone, so they are computed once per distinct count
    (of a slice of rows) and divided by each row's denominator afterwards, in PHE's order
    (limit / n × multiplier). ``mult`` is each row's multiplier, or with ``ind`` (each row's
    indicator code) each indicator's, so no per-row copy of it is made.
    """

    def mult_of(at: np.ndarray) -> np.ndarray:
        return mult[at] if ind is None else mult[ind[at]]

    out = {k: v.copy() for k, v in limits.items()}
    method = np.zeros(len(num), dtype=np.int8)
    supplied = ~np.isnan(limits["lower_95"]) & ~np.isnan(limits["upper_95"])
    method[supplied] = CI_METHODS.index("supplied")
    with np.errstate(invalid="ignore"):
        # a positive denominator is a present one (counts too need one, as before)
        computed = np.flatnonzero(~supplied & ~np.isnan(num) & (den > 0))
    computed_type = vtype[computed]
    levels = tuple(CONFIDENCE)
    for code, kind in enumerate(COUNTED):
        rows = computed[computed_type == code]
        if not rows.size:
            continue
        if kind == "proportion":
            # Wilson limits as ci.indicator_cis gives them (limit × multiplier, NaN where the
            # value is), without its per-row method labels: both levels in one call (what
            # they share is worked out once), a slice of rows at a time (bounded memory)
            for lo in range(0, rows.size, _CI_SLICE_ROWS):
                at = rows[lo : lo + _CI_SLICE_ROWS]
                x, n, m = num[at], den[at], mult_of(at)
                with np.errstate(invalid="ignore", divide="ignore"):
                    missing = np.isnan(x / n * m)
                lower, upper = ci.wilson_ci(x, n, [CONFIDENCE[level] for level in levels])
                for i, level in enumerate(levels):
                    out[f"lower_{level}"][at] = np.where(missing, np.nan, lower[i] * m)
                    out[f"upper_{level}"][at] = np.where(missing, np.nan, upper[i] * m)
            method[rows] = CI_METHODS.index("Wilson")
            continue
        # a slice of rows at a time (bounded memory); each count's limits are the same
        # whichever slice works them out
        for lo in range(0, rows.size, _CI_SLICE_ROWS):
            at = rows[lo : lo + _CI_SLICE_ROWS]
            x, n, m = num[at], den[at], mult_of(at)
            u, inverse = _unique_inverse(x)
            cis = ci.indicator_cis(u, np.ones_like(u), "rate", multiplier=1.0)
            n_eff = np.ones_like(x) if kind == "count" else n
            with np.errstate(invalid="ignore", divide="ignore"):
                value = x / n_eff * m
                for col in out:
                    lim = cis[col].to_numpy()[inverse] / n_eff * m
                    out[col][at] = np.where(np.isnan(value), np.nan, lim)
            exact = np.where(
                u < ci.EXACT_BELOW, CI_METHODS.index("Exact"), CI_METHODS.index("Byars")
            )
            method[at] = exact.astype(np.int8)[inverse]
    return out, method


def with_cis(values: pd.DataFrame, meta: pd.DataFrame) -> pd.DataFrame:
    """Values with CIs: supplied limits kept, missing ones computed by the Fingertips method."""
    out = values.merge(meta, on="indicator", how="left")
    vtype = np.full(len(out), -1, dtype=np.int8)
    for code, kind in enumerate(COUNTED):
        vtype[(out["value_type"] == kind).to_numpy(dtype=bool, na_value=False)] = code
    cols = ("lower_95", "upper_95", "lower_998", "upper_998")
    limits, method = _cis(
        out["numerator"].to_numpy(dtype=float),
        out["denominator"].to_numpy(dtype=float),
        vtype,
        out["multiplier"].to_numpy(dtype=float),
        {c: out[c].to_numpy(dtype=float) for c in cols},
    )
    return out.assign(**limits, ci_method=np.asarray(CI_METHODS, dtype=object)[method])


# ── comparators ──────────────────────────────────────────────────────────────────────────
def _group_sums(
    gid: np.ndarray, live: np.ndarray, num: np.ndarray, den: np.ndarray, value: np.ndarray
) -> pd.DataFrame:
    """Per group (in order of first appearance): summed counts, mean value, areas counted."""
    if not live.all():
        rows = np.flatnonzero(live)
        gid, num, den, value = gid[rows], num[rows], den[rows], value[rows]
    return _grouped_sums(gid, *_paired_counts(num, den), value)


def _paired_counts(num: np.ndarray, den: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Numerator and denominator, both missing where either is (only pairs are summed)."""
    has_counts = ~np.isnan(num) & ~np.isnan(den)
    return np.where(has_counts, num, np.nan), np.where(has_counts, den, np.nan)


def _grouped_sums(
    gid: np.ndarray, num: np.ndarray, den: np.ndarray, value: np.ndarray
) -> pd.DataFrame:
    """_group_sums of rows already chosen, their counts paired.

    pandas' grouped sums and means (Kahan-compensated) on an integer key, so the figures are
    the same as a groupby on the text keys gives, at a fraction of the cost.
    """
    # copy=False: each column its own block, not stacked into a fresh 2-D copy
    frame = pd.DataFrame({"gid": gid, "num": num, "den": den, "value": value}, copy=False)
    g = frame.groupby("gid", sort=False)
    return g.agg(
        num=("num", "sum"),
        den=("den", "sum"),
        mean_value=("value", "mean"),
        n_areas=("value", "count"),
    )


def _comparator_value(agg: pd.DataFrame, vtype: np.ndarray, mult: np.ndarray) -> np.ndarray:
    """Summed counts for counted indicators (num / den × multiplier), the mean value otherwise."""
    counted = (vtype >= 0) & (agg["den"].to_numpy() > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = agg["num"].to_numpy() / agg["den"].to_numpy() * mult
    return np.where(counted, ratio, agg["mean_value"].to_numpy())


def _spread(
    agg_index: np.ndarray, values: np.ndarray, gid: np.ndarray, n_groups: int
) -> np.ndarray:
    dense = np.full(n_groups, np.nan)
    dense[agg_index] = values
    return dense[gid]


# ── significance ─────────────────────────────────────────────────────────────────────────
SIG_LABELS = (
    benchmark.NOT_COMPARED,
    "better",
    "worse",
    "higher",
    "lower",
    "similar",
)


def _significance_codes(
    limits: dict[str, tuple[np.ndarray, np.ndarray]],
    benches: dict[str, np.ndarray],
    polarity: np.ndarray,
) -> dict[tuple[str, str], np.ndarray]:
    """Fingertips comparison (benchmark.compare_with_benchmark) as codes into SIG_LABELS, for
    every (level, comparator) pair of ``limits`` (level → lower, upper) and ``benches``
    (comparator → value); what the pairs share (polarity, missing limits) is worked out once."""
    has_polarity = polarity >= 0
    # each row's code is similar + higher × (its higher code − similar) + lower × (its lower
    # code − similar), times "compared": higher and lower never both hold (reversed limits
    # are refused) and "not compared" is code 0; a few passes over int8, no table lookup
    table = _SIG_TABLE.reshape(4, 4)
    row = np.where(has_polarity, polarity + 1, 0).astype(np.intp)  # take wants intp
    similar = table[:, 0].take(row)
    to_higher = (table[:, 1] - table[:, 0]).take(row)
    to_lower = (table[:, 2] - table[:, 0]).take(row)
    del row
    bench_present = {kind: ~np.isnan(bench) for kind, bench in benches.items()}
    out = {}
    for level, (lower, upper) in limits.items():
        reversed_ = has_polarity & (lower > upper)
        if reversed_.any():
            # the public function names the offending rows
            rows = np.flatnonzero(reversed_)
            first_bench = next(iter(benches.values()))
            benchmark.compare_with_benchmark(
                lower[rows], upper[rows], first_bench[rows], POLARITIES[0]
            )
        limits_present = ~np.isnan(lower) & ~np.isnan(upper)
        for kind, bench in benches.items():
            with np.errstate(invalid="ignore"):
                code = (lower > bench).view(np.int8) * to_higher
                code += (upper < bench).view(np.int8) * to_lower
            code += similar
            code *= (limits_present & bench_present[kind]).view(np.int8)
            out[(level, kind)] = code
    return out


# rows: no polarity, then POLARITIES order; columns: similar, higher, lower, not compared
_SIG_TABLE = np.array(
    [[0, 0, 0, 0], [5, 1, 2, 0], [5, 2, 1, 0], [5, 3, 4, 0]], dtype=np.int8
).ravel()


POLARITIES = ("higher_is_better", "lower_is_better", "no_judgement")


# ── quintiles, funnels, SPC, trends ──────────────────────────────────────────────────────
def _quintiles(
    value: np.ndarray,
    gid: np.ndarray,
    lower_first: np.ndarray,
    slices: list[tuple[int, int]] | None = None,
) -> pd.arrays.IntegerArray:
    """Quintile within indicator × period by PHE's method; 1 = best for polar indicators.

    PHE's ``invert`` puts the highest values in quintile 1: used where higher is better (and,
    as PHE's default, for no-judgement indicators); lower-is-better puts the lowest first.
    ``slices`` are row ranges holding whole groups, ranked one range at a time (so the
    ranking's arrays take a range's memory, not the dataset's); all rows by default.

    Rows come area-major within an indicator, so an indicator whose areas all have the same
    periods is an area × period grid: its transpose holds each group as a row, and
    ``benchmark._row_quantiles`` ranks all of them in one 2-D sort. Other rows go through
    ``phe_quantile`` as before.
    """
    out = np.zeros(len(value), dtype=np.int8)  # Int8: 1-5 need no more (7.4M rows: 52 MB less)
    missing = np.ones(len(value), dtype=bool)
    for lo, hi in [(0, len(value))] if slices is None else slices:
        other = []
        for start, stop, periods in _quintile_grids(gid[lo:hi], lower_first[lo:hi]):
            start, stop = lo + start, lo + stop
            if not periods:
                other.append(np.arange(start, stop))
                continue
            q, q_missing = benchmark._row_quantiles(
                value[start:stop].reshape(-1, periods).T, 5, not lower_first[start]
            )
            out[start:stop] = q.T.ravel()
            missing[start:stop] = q_missing.T.ravel()
        rest = np.concatenate(other) if other else np.zeros(0, dtype=np.intp)
        for invert, chosen in ((True, ~lower_first[rest]), (False, lower_first[rest])):
            if chosen.any():
                rows = rest[chosen]
                q = benchmark.phe_quantile(
                    value[rows], nquantiles=5, invert=invert, groups=gid[rows]
                )
                missing[rows] = q.isna()
                out[rows] = q.to_numpy(dtype=np.int8, na_value=0)
    return pd.arrays.IntegerArray(out, missing)


def _quintile_grids(gid: np.ndarray, lower_first: np.ndarray) -> list[tuple[int, int, int]]:
    """Cut rows holding whole groups into runs (start, stop, periods) of whole groups: a run
    with ``periods`` > 0 is an area × period grid (every area has the same groups, in the same
    order, and one polarity); one with 0 is not, and is ranked the general way."""
    if not gid.size:
        return []
    codes = gid - gid.min()
    count = np.bincount(codes)
    last = None  # each group's last row, found only if some run is not a grid
    runs, start = [], 0
    while start < len(codes):
        # the grid's row of groups: the first area's periods, ascending
        falls = np.flatnonzero(np.diff(codes[start : start + len(count) + 1]) <= 0)
        periods = int(falls[0]) + 1 if falls.size else min(len(count), len(codes) - start)
        pattern = codes[start : start + periods]
        stop = start + int(count[pattern[0]]) * periods
        block = codes[start:stop]
        if (
            stop <= len(codes)
            and (count[pattern] == count[pattern[0]]).all()
            and (block.reshape(-1, periods) == pattern).all()
            and (lower_first[start:stop] == lower_first[start]).all()
        ):
            runs.append((start, stop, periods))
        else:
            # not a grid: the shortest run from here holding whole groups goes the general way
            if last is None:
                last = np.zeros(len(count), dtype=np.intp)
                np.maximum.at(last, codes, np.arange(len(codes)))  # repeated-index writes: no order
            stop = int(last[codes[start]]) + 1
            while (reach := int(last[codes[start:stop]].max()) + 1) > stop:
                stop = reach
            runs.append((start, stop, 0))
        start = stop
    return runs


def _funnels(
    k: _Keys,
    num: np.ndarray,
    den: np.ndarray,
    vtype: np.ndarray,
    live: np.ndarray,
    options: Options,
) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """Funnel z and outlier codes ("", "high", "low") per row, and one summary row per funnel.

    Rates are funnelled as standardised ratios: observed events against expected = the
    denominator × the national rate for that period (Spiegelhalter 2005, Poisson case).
    Funnels are keyed by the integer codes, numbered in the text's sort order, so they come
    out in the same order as funnels of the text keys.
    """
    z = np.full(k.n, np.nan)
    outlier = np.zeros(k.n, dtype=np.int8)
    summaries = []
    with np.errstate(invalid="ignore"):
        usable = live & ~np.isnan(num) & (den > 0)
    ind_bounds = np.searchsorted(k.ind, np.arange(len(k.ind_labels) + 1))
    for vtype_name in FUNNEL_TYPE:
        of_type = vtype == COUNTED.index(vtype_name)
        funnelled = np.flatnonzero(usable & of_type)
        if not funnelled.size:
            continue
        # funnels are per indicator × period, so whole indicators go in slices: the units'
        # arrays then take a slice's memory, not the whole value type's
        per_indicator = np.diff(np.searchsorted(funnelled, ind_bounds))
        for lo, hi in _indicator_slices(ind_bounds, per_indicator, _FUNNEL_SLICE_ROWS):
            rows = funnelled[np.searchsorted(funnelled, lo) : np.searchsorted(funnelled, hi)]
            if not rows.size:
                continue
            typed = lo + np.flatnonzero(of_type[lo:hi])
            summary = _funnel_slice(k, num, den, rows, typed, vtype_name, options, z, outlier)
            summaries.append(summary)
    fsummary = pd.concat(summaries, ignore_index=True) if summaries else pd.DataFrame()
    return z, outlier, fsummary


_FUNNEL_SLICE_ROWS = 1_000_000
_QUINTILE_SLICE_ROWS = 500_000


def _indicator_slices(bounds: np.ndarray, weight: np.ndarray, limit: int) -> list[tuple[int, int]]:
    """Row slices [bounds[i], bounds[j]) of whole indicator blocks, each weighing at most
    ``limit`` (or holding one indicator); ``weight`` is each indicator's."""
    out, first, acc = [], 0, 0
    for i, w in enumerate(weight):
        if acc and acc + w > limit:
            out.append((int(bounds[first]), int(bounds[i])))
            first, acc = i, 0
        acc += w
    out.append((int(bounds[first]), int(bounds[len(weight)])))
    return out


def _funnel_slice(
    k: _Keys,
    num: np.ndarray,
    den: np.ndarray,
    rows: np.ndarray,
    typed: np.ndarray,
    vtype_name: str,
    options: Options,
    z: np.ndarray,
    outlier: np.ndarray,
) -> pd.DataFrame:
    """The funnels of ``rows`` (usable rows of one value type): z and outlier codes written
    into ``typed`` (that type's rows of the same indicators), their summary returned.

    What funnel_by does, on the codes: the rows are put in funnel order (indicator × period,
    then area, as they already are within one indicator × period) by a radix sort of 16-bit
    keys, so no key is hashed, factorised or sorted again; rows funnel_by would refuse go to
    it, to be named.
    """
    ftype = FUNNEL_TYPE[vtype_name]
    n_periods, n_areas = len(k.period_labels), len(k.area_labels)
    n_ip = len(k.ind_labels) * n_periods
    ip_rows = _ip_keys(k, rows, n_periods, n_ip)
    by_funnel = np.argsort(ip_rows.astype(np.uint16) if n_ip <= 2**16 else ip_rows, kind="stable")
    given, rows, ip_rows = rows, rows[by_funnel], ip_rows[by_funnel]
    n_, d_ = num[rows], den[rows]
    new_funnel = np.r_[True, ip_rows[1:] != ip_rows[:-1]] if rows.size else np.ones(0, bool)
    fid_all = np.cumsum(new_funnel)
    fid_all -= 1
    funnel_ip = ip_rows[new_funnel].astype(np.int64)
    if vtype_name == "rate":
        # expected = denominator × the national rate of the indicator × period
        starts = np.flatnonzero(new_funnel)
        national = _funnel_sums(fid_all, n_, starts) / _funnel_sums(fid_all, d_, starts)
        d_ = d_ * national[fid_all]
    o = funnel._options(
        ftype,
        options.funnel_limit,
        options.sr_method,
        options.trim,
        options.funnel_adjust,
        True,
        1,
        True,
    )
    with np.errstate(invalid="ignore"):
        refused = np.isinf(n_) | np.isinf(d_) | (n_ < 0) | (d_ < 0)
        if ftype == "PR":
            refused |= n_ > d_
    if refused.any():  # funnel_by names the offending rows, in the order given
        back = np.argsort(by_funnel)
        frame = pd.DataFrame(
            {
                "indicator": k.ind[given],
                "period": k.period[given],
                "area_code": k.area[given],
                "numerator": n_[back],
                "denominator": d_[back],
            }
        )
        funnel.funnel_by(frame, by=["indicator", "period"], data_type=ftype)
    fid, acode, n_u, d_u, bad_fid, bad_area = funnel._units(
        fid_all, k.area[rows].astype(np.int64), n_areas, n_, d_
    )
    bands, both_kinds = funnel._bands(o, ["z", "outlier"])
    core = funnel._core(fid, len(funnel_ip), n_u, d_u, o, bands, both_kinds, ["z", "outlier"])
    # every row of this value type takes its (indicator, period, area) unit, as a merge
    # would; keyed by the indicator × period pairs present, numbered in order, × area
    pair_ip = _ip_keys(k, typed, n_periods, n_ip)
    present = np.zeros(n_ip, dtype=bool)
    present[pair_ip] = True
    pair = np.cumsum(present) - 1
    unit_key = pair[funnel_ip][fid]
    unit_key *= n_areas
    unit_key += acode
    row_key = pair[pair_ip]
    row_key *= n_areas
    row_key += k.area[typed]
    pos, hit = _find(unit_key, row_key, int(present.sum()) * n_areas)
    if not hit.all():  # one compress of each, not one per column written
        typed, pos = typed[hit], pos[hit]
    z[typed] = core["points"]["z"][pos]
    outlier[typed] = core["points"]["outlier"].codes[pos]
    area_labels = k.area_labels
    dropped = [() for _ in funnel_ip]
    for f in np.unique(bad_fid):
        dropped[int(f)] = tuple(area_labels[bad_area[bad_fid == f]])
    summary = pd.DataFrame(
        {
            "indicator": pd.array(k.ind_labels[funnel_ip // n_periods], dtype="str"),
            "period": pd.array(k.period_labels[funnel_ip % n_periods], dtype="str"),
            "phi": core["phi"],
            "tau2": core["tau2"],
            "adjusted": core["adjusted"],
            "target": core["target"] * o["multiplier"],
            "n": core["n"],
            "n_outliers": core["n_outliers"],
            "dropped": dropped,
        }
    )
    return summary.assign(funnel_type=ftype, value_type=vtype_name)


def _ip_keys(k: _Keys, rows: np.ndarray, n_periods: int, n_ip: int) -> np.ndarray:
    """Indicator × period key of ``rows``, in 32 bits when the keys fit (half the memory
    traffic of 64 for the sort and gathers that follow)."""
    ip = k.ind[rows].astype(np.int32 if n_ip < 2**31 else np.int64, copy=False)
    ip *= n_periods
    ip += k.period[rows]
    return ip


def _funnel_sums(fid: np.ndarray, x: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Each funnel's sum of x (rows in funnel order), to the bit as pandas' grouped sum gives
    it: whole numbers whose magnitudes sum below 2**52 add exactly in any order, so they are
    counted; anything else goes to pandas (Kahan-compensated, in row order)."""
    with np.errstate(invalid="ignore"):
        whole = np.abs(x).sum() < 2**52 and bool((x == np.floor(x)).all())
    if whole:
        return np.bincount(fid, weights=x, minlength=len(starts))
    return pd.Series(x).groupby(fid, sort=False).sum().to_numpy()


def _find(keys: np.ndarray, wanted: np.ndarray, n_keys: int) -> tuple[np.ndarray, np.ndarray]:
    """Position in ``keys`` (distinct, sorted, in [0, n_keys)) of each ``wanted`` key, and
    whether it is there. Keys that are dense enough are found through a table indexed by the
    key (one lookup each, not a binary search scattered over millions of keys); the table
    takes 4 bytes a key, at most 64 MiB or 16 bytes per key wanted."""
    if 0 < n_keys <= max(4 * len(wanted), 2**24) and len(keys) < 2**31:
        table = np.full(n_keys, -1, dtype=np.int32)
        table[keys] = np.arange(len(keys), dtype=np.int32)
        pos = table[wanted]
        hit = pos >= 0
        return np.maximum(pos, 0), hit
    pos = np.minimum(np.searchsorted(keys, wanted), max(len(keys) - 1, 0))
    return pos, keys[pos] == wanted


def _concern(outlier: np.ndarray, polarity: np.ndarray) -> np.ndarray:
    """Funnel outliers judged through polarity (high-and-better is not a concern): codes into
    CONCERN_LABELS."""
    out = np.zeros(len(outlier), dtype=np.int8)
    # outlier codes: 1 high, 2 low; concern codes: 1 "better than expected", 2 "concern"
    hib = polarity == POLARITIES.index("higher_is_better")
    lib = polarity == POLARITIES.index("lower_is_better")
    out[hib & (outlier == 1)] = 1
    out[hib & (outlier == 2)] = 2
    out[lib & (outlier == 1)] = 2
    out[lib & (outlier == 2)] = 1
    return out


CONCERN_LABELS = ("", "better than expected", "concern")
OUTLIER_LABELS = ("", "high", "low")


_SPC_SLICE_ROWS = 1_000_000
SPC_LIMITS = ("mean", "lpl", "upl")


def _constant_in_runs(a: np.ndarray, new_run: np.ndarray) -> bool:
    """Whether ``a`` keeps one value (missing counts as one) down each run of rows."""
    same = (a[1:] == a[:-1]) | (np.isnan(a[1:]) & np.isnan(a[:-1]))
    return bool((same | new_run[1:]).all())


def _per_series(k: _Keys, limits: tuple[np.ndarray, ...]) -> tuple[pd.DataFrame, np.ndarray]:
    """Per-row SPC ``limits`` (SPC_LIMITS order) kept once per series, with the row where each
    series starts; per row (each row its own "series") should any differ within a series."""
    new_run = np.empty(k.n, dtype=bool)
    new_run[:1] = True
    np.not_equal(k.ind[1:], k.ind[:-1], out=new_run[1:])
    new_run[1:] |= k.area[1:] != k.area[:-1]
    constant = all(_constant_in_runs(a, new_run) for a in limits)
    starts = np.flatnonzero(new_run) if constant else np.arange(k.n)
    frame = pd.DataFrame({name: a[starts] for name, a in zip(SPC_LIMITS, limits, strict=True)})
    return frame, starts


def _spc(
    k: _Keys, period_end: np.ndarray, value: np.ndarray, polarity: np.ndarray, options: Options
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """XmR for every area × indicator series: the mean and limits of each series with the row
    where it starts (as ``_per_series`` gives them), and each row's point type code.

    Rows are sorted by indicator, area and period end, so each series is a run of rows: when
    every run's periods strictly rise, every value is finite or missing (what ``xmr`` checks)
    and each series has one polarity, the runs go straight to xmr's computation, block by
    block of rows; otherwise each direction's rows go through ``xmr`` itself, which says what
    is wrong or sorts the rows.
    """
    series = k.series
    new_run = np.ones(k.n, dtype=bool)
    new_run[1:] = series[1:] != series[:-1]
    runs_ok = (
        period_end.dtype.kind == "M"
        and not np.isnat(period_end).any()
        and not np.isinf(value).any()
        and bool((new_run[1:] | (period_end[1:] > period_end[:-1])).all())
        and bool((new_run[1:] | (polarity[1:] == polarity[:-1])).all())
    )
    if runs_ok and (done := _spc_runs(new_run, value, polarity, options)) is not None:
        return done
    mean, lpl, upl = (np.full(k.n, np.nan) for _ in range(3))
    ptype = np.full(k.n, -1, dtype=np.int8)
    present = np.bincount(polarity[polarity >= 0], minlength=len(POLARITIES))
    for code in np.flatnonzero(present):  # np.unique would hash 7M codes for three values
        rows = np.flatnonzero(polarity == code)
        improvement = IMPROVEMENT.get(POLARITIES[code], "neutral")
        s, end, y = series[rows], period_end[rows], value[rows]
        pts = spc.xmr(
            pd.DataFrame({"series": s, "period": end, "value": y}),
            improvement=improvement,
            rules=options.spc_rules,
            screen_outliers=options.spc_screen_outliers,
        )
        same_order = np.array_equal(pts["series"].to_numpy(), s) and np.array_equal(
            pts["period"].to_numpy(), end
        )
        if not same_order:  # xmr sorted the rows: find each row's point
            rows = rows[np.lexsort((end, s))]
        mean[rows] = pts["mean"].to_numpy()
        lpl[rows] = pts["lpl"].to_numpy()
        upl[rows] = pts["upl"].to_numpy()
        ptype[rows] = pts["point_type"].cat.codes.to_numpy()
    return (*_per_series(k, (mean, lpl, upl)), ptype)


def _spc_runs(
    new_run: np.ndarray, value: np.ndarray, polarity: np.ndarray, options: Options
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray] | None:
    """_spc's fast route, for runs checked as it says: each run's limits kept once as they
    come (no per-row arrays of them), or None should a run have two sets (then the ``xmr``
    route answers). Runs without a polarity get missing limits and no point type."""
    starts_all = np.flatnonzero(new_run)
    limits = np.full((len(SPC_LIMITS), len(starts_all)), np.nan)
    ptype = np.full(len(value), -1, dtype=np.int8)
    # a direction's rows are whole runs, charted alone: each block of one polarity goes in
    # slices of whole runs, read in place, and the rule arrays (a dozen per point) take a
    # slice's memory
    for lo, hi in _spc_slices(new_run, polarity):
        starts = np.flatnonzero(new_run[lo:hi])
        cols = spc._xmr_runs(
            value[lo:hi],
            starts,
            np.diff(np.r_[starts, hi - lo]),
            IMPROVEMENT.get(POLARITIES[polarity[lo]], "neutral"),
            fix_after_n_points=None,
            screen_outliers=options.spc_screen_outliers,
            rules=options.spc_rules,
            columns=SPC_LIMITS,
        )
        first = np.searchsorted(starts_all, lo)
        for i, name in enumerate(SPC_LIMITS):
            if not _constant_in_runs(cols[name], new_run[lo:hi]):
                return None
            limits[i, first : first + len(starts)] = cols[name][starts]
        ptype[lo:hi] = cols["point_code"]
    return pd.DataFrame(dict(zip(SPC_LIMITS, limits, strict=True))), starts_all, ptype


def _spc_slices(new_run: np.ndarray, polarity: np.ndarray) -> list[tuple[int, int]]:
    """(start, stop) row slices of one polarity direction each, cut at run starts into at most
    _SPC_SLICE_ROWS rows (or one run) apiece; rows without a polarity are left out."""
    n = len(new_run)
    bounds = np.r_[0, np.flatnonzero(polarity[1:] != polarity[:-1]) + 1, n]
    starts = np.flatnonzero(new_run)
    slices: list[tuple[int, int]] = []
    for lo, hi in pairwise(bounds):
        if polarity[lo] < 0:
            continue
        inside = starts[(starts >= lo) & (starts < hi)]
        at_or_after = np.searchsorted(inside, np.arange(lo, hi, _SPC_SLICE_ROWS))
        cuts = inside[np.minimum(at_or_after, len(inside) - 1)]
        slices += [(int(a), int(b)) for a, b in pairwise(np.unique(np.r_[cuts, hi]))]
    return slices


RECENT_TREND_TYPES = ("proportion", "rate", "ratio")
# rows per call of the recent trend: each series is worked on alone, so the indicators' blocks
# can go in slices, which bounds the memory its grids take (a few hundred MB at most)
_TREND_BLOCK_ROWS = 500_000


def _recent_trend_blocks(results: pd.DataFrame, k: _Keys) -> list[tuple[int, int]]:
    """(start, stop) row slices covering the indicators that have a recent trend, each a run of
    whole indicator blocks of at most _TREND_BLOCK_ROWS rows (or one indicator's block)."""
    # needles of the codes' own type: other needles would cast every code first
    bounds = np.r_[np.searchsorted(k.ind, np.arange(len(k.ind_labels), dtype=k.ind.dtype)), k.n]
    vtype = results["value_type"].array
    blocks: list[tuple[int, int]] = []
    for start, stop in pairwise(bounds):
        if stop == start or vtype[start] not in RECENT_TREND_TYPES:
            continue
        if blocks and blocks[-1][1] == start and stop - blocks[-1][0] <= _TREND_BLOCK_ROWS:
            blocks[-1] = (blocks[-1][0], int(stop))
        else:
            blocks.append((int(start), int(stop)))
    return blocks or [(0, 0)]


def _trends(results: pd.DataFrame, k: _Keys) -> pd.DataFrame:
    """The Fingertips recent trend per area × indicator series with a value (the trend the
    pages read); Mann–Kendall and Theil–Sen are left to ``Analysis.series_trends``.

    ``results`` is sorted by indicator, area and period end, so the series are runs of rows
    (the trend functions' fast route); the frame returned is sorted by area then indicator.
    """
    keys = ["indicator", "area_code"]
    parts = []
    for start, stop in _recent_trend_blocks(results, k):
        part = _recent_trend_block(results, k, start, stop)
        if part is None:  # anything unusual: the public function checks (and says) it all
            part = trend.fingertips_recent_trend(
                results.iloc[start:stop],
                series=keys,
                order="period_end",
                numerator="numerator",
                denominator="denominator",
                value_type="value_type",
                polarity="polarity",
                value="value",
                lower_ci="lower_95",
                upper_ci="upper_95",
                suppressed="suppressed",
            )
        parts.append(part)
    recent = pd.concat(parts, ignore_index=True)
    # one row per series with a value: the rows are runs of series, so it is each run with a
    # value, named by its first row
    heads = np.flatnonzero(
        np.r_[True, (k.ind[1:] != k.ind[:-1]) | (k.area[1:] != k.area[:-1])][: k.n]
    )
    has_value = results["value"].notna().to_numpy()
    heads = heads[np.logical_or.reduceat(has_value, heads)] if len(heads) else heads
    # recent's series are in the same (indicator, area) order: match them before the area sort
    rec_key = k.trend_key(
        recent["indicator"].cat.codes.to_numpy(), recent["area_code"].cat.codes.to_numpy()
    )
    head_key = k.trend_key(k.ind[heads], k.area[heads])
    by_area = np.lexsort((k.ind[heads], k.area[heads]))
    heads, head_key = heads[by_area], head_key[by_area]
    out = pd.DataFrame(
        {
            "area_code": results["area_code"].array.take(heads),
            "indicator": results["indicator"].array.take(heads),
        }
    )
    pos = np.minimum(np.searchsorted(rec_key, head_key), max(len(rec_key) - 1, 0))
    hit = (rec_key[pos] == head_key) if len(rec_key) else np.zeros(len(head_key), dtype=bool)
    extra = recent.drop(columns=keys).rename(
        columns={"p_value": "p_value_recent", "slope": "slope_recent", "method": "method_recent"}
    )
    everywhere = bool(hit.all())
    for col in extra.columns:
        src = extra[col]
        if len(src) and src.dtype.kind in "fi":
            # Series.where(hit) as before: NaN where missed (integers become floats)
            values = src.to_numpy()[pos]
            out[col] = values if everywhere else np.where(hit, values, np.nan)
        elif len(src) and src.dtype == "str":
            out[col] = src.array.take(np.where(hit, pos, -1), allow_fill=True)
        else:
            taken = src.take(pos) if len(src) else src.reindex(range(len(out)))
            col_values = taken.reset_index(drop=True)
            if not everywhere:
                col_values = col_values.where(hit)
            out[col] = col_values.to_numpy() if col_values.dtype.kind in "fb" else col_values.array
    return out


def _recent_trend_block(
    results: pd.DataFrame, k: _Keys, start: int, stop: int
) -> pd.DataFrame | None:
    """The recent trend of rows start:stop as fingertips_recent_trend gives it, from the sorted
    rows' arrays when each series' period ends strictly rise and it has one known value type and
    polarity (then keys, times and settings need no factorizing or checking); None otherwise,
    or when a value fails its checks, for the function to handle."""
    n = stop - start
    keys = ("indicator", "area_code")
    new_series = np.ones(n, dtype=bool)
    series = k.trend_key(k.ind[start:stop], k.area[start:stop])
    new_series[1:] = series[1:] != series[:-1]
    heads = np.flatnonzero(new_series)
    end = results["period_end"].to_numpy()[start:stop]
    settings = {
        name: (results[name].cat.codes.to_numpy()[start:stop], labels)
        for name, labels in (("value_type", trend.VALUE_TYPES), ("polarity", trend.POLARITIES))
        if isinstance(results[name].dtype, pd.CategoricalDtype)
    }
    columns = ["numerator", "denominator", "value", "lower_95", "upper_95"]
    if (
        n == 0
        or len(settings) < 2
        or not all(isinstance(results[key].dtype, pd.CategoricalDtype) for key in keys)
        or any(results[c].dtype != np.float64 for c in columns)
        or results["suppressed"].dtype != bool
        or end.dtype.kind != "M"
        or np.isnat(end).any()
        or any((results[key].cat.codes.to_numpy()[start:stop] < 0).any() for key in keys)
        or not (new_series[1:] | (end[1:] > end[:-1])).all()
    ):
        return None
    codes = {}
    for name, (row_codes, allowed) in settings.items():
        lookup = np.array(
            [allowed.index(c) if c in allowed else -1 for c in results[name].cat.categories]
        )
        if (row_codes < 0).any() or not (new_series[1:] | (row_codes[1:] == row_codes[:-1])).all():
            return None
        codes[name] = lookup[row_codes[heads]]
        if (codes[name] < 0).any():
            return None
    cols = trend._recent_trend_runs(
        *(results[c].to_numpy()[start:stop] for c in columns),
        results["suppressed"].to_numpy()[start:stop],
        codes["value_type"] == trend.VALUE_TYPES.index("proportion"),
        codes["polarity"],
        heads,
    )
    if cols is None:
        return None
    index = {
        key: pd.Categorical.from_codes(
            results[key].cat.codes.to_numpy()[start:stop][heads], dtype=results[key].dtype
        )
        for key in keys
    }
    return pd.DataFrame({**index, **cols})


def _trend_inputs(results: pd.DataFrame) -> pd.DataFrame:
    """Each series' points with a value, time as the dense rank of the period end."""
    has_value = results["value"].notna().to_numpy()
    ends = results["period_end"].to_numpy()[has_value]
    codes, _ = pd.factorize(ends, sort=True)
    return pd.DataFrame(
        {
            "indicator": results["indicator"].array[has_value],
            "area_code": results["area_code"].array[has_value],
            "t": (codes + 1).astype(np.float64),  # dense rank of the period end
            "value": results["value"].to_numpy()[has_value],
        }
    )


def _trend_tests(valid: pd.DataFrame) -> pd.DataFrame:
    """Mann–Kendall and Theil–Sen per series of ``_trend_inputs``, sorted by area then
    indicator."""
    keys = ["indicator", "area_code"]
    mk = trend.mann_kendall(valid, series=keys, time="t", value="value")
    ts = trend.theil_sen(valid, series=keys, time="t", value="value")
    out = pd.concat(
        [
            mk[
                [
                    "area_code",
                    "indicator",
                    "n",
                    "kendall_s",
                    "kendall_tau",
                    "z",
                    "p_value",
                    "method",
                ]
            ],
            ts[["n", "slope", "intercept", "method"]].rename(
                columns={"n": "n_ts", "method": "method_ts"}
            ),
        ],
        axis=1,
    )
    by_area = np.lexsort(
        (out["indicator"].cat.codes.to_numpy(), out["area_code"].cat.codes.to_numpy())
    )
    return out.take(by_area).reset_index(drop=True)


@dataclass(frozen=True)
class _Keys:
    """The rows' keys as integer codes in text sort order, with their labels."""

    ind: np.ndarray
    ind_labels: np.ndarray
    area: np.ndarray
    area_labels: np.ndarray
    period: np.ndarray
    period_labels: np.ndarray

    @property
    def n(self) -> int:
        return len(self.ind)

    @cached_property
    def ip(self) -> np.ndarray:
        """indicator × period (worked out once: several stages read it)."""
        return self.ind * len(self.period_labels) + self.period

    @property
    def series(self) -> np.ndarray:
        """indicator × area, non-decreasing down the sorted rows."""
        return self.trend_key(self.ind, self.area)

    def trend_key(self, ind: np.ndarray, area: np.ndarray) -> np.ndarray:
        return ind.astype(np.int64) * len(self.area_labels) + area


def _sorted_values(values: pd.DataFrame) -> tuple[pd.DataFrame, _Keys]:
    """The values in indicator, area, period-end order (a stable sort; free when already so)."""
    ind, ind_labels = _ranked(values["indicator"])
    area, area_labels = _ranked(values["area_code"])
    period, period_labels = _ranked(values["period"])
    end = values["period_end"].to_numpy().view(np.int64)
    series = ind.astype(np.int64) * len(area_labels) + area
    step = np.diff(series)
    if not ((step >= 0).all() and ((step > 0) | (np.diff(end) >= 0)).all()):
        order = np.lexsort((end, series))
        values = values.take(order).reset_index(drop=True)
        ind, area, period = ind[order], area[order], period[order]
    keys = _Keys(ind, ind_labels, area, area_labels, period, period_labels)
    return values, keys


def _per_indicator(meta: pd.DataFrame, k: _Keys, column: str, fill: Any) -> np.ndarray:
    lookup = meta.set_index("indicator")[column]
    return np.array([lookup.get(label, fill) for label in k.ind_labels])


def _area_attrs(
    areas: pd.DataFrame, k: _Keys, kind: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each row's region (or STP) as codes into sorted labels; "" where the area has none. Also
    each area's code (by area code), which says the same in one entry an area."""
    attrs = areas.loc[:, ["code", kind]].drop_duplicates("code")
    lookup = pd.Series(attrs[kind].to_numpy(), index=attrs["code"].astype(str).to_numpy())
    per_area = lookup.reindex(pd.Index(k.area_labels, dtype="str")).fillna("").astype(str)
    codes, labels = _ranked(pd.Series(per_area.to_numpy(), dtype="str"))
    # the smallest integers that hold the codes: a region per row takes 1 byte, not 4
    codes = codes.astype(np.min_scalar_type(len(labels)))
    return codes[k.area], labels, codes


def _peer_pairs(areas: pd.DataFrame) -> pd.DataFrame:
    return (
        areas.loc[:, ["code", "peers"]]
        .assign(peer=lambda f: f["peers"].astype(str).str.split(";"))
        .explode("peer")
        .assign(peer=lambda f: f["peer"].str.strip())
        .query("peer != ''")
        .rename(columns={"code": "owner"})[["owner", "peer"]]
    )


def _peer_values(
    areas: pd.DataFrame,
    k: _Keys,
    live: np.ndarray,
    num: np.ndarray,
    den: np.ndarray,
    value: np.ndarray,
    vtype: np.ndarray,
    mult: np.ndarray,
) -> np.ndarray:
    """Each area's peer-group value: its peers' summed counts (or mean value), itself excluded.

    The peers' rows are gathered pair by pair, in the order a merge of the pairs with the rows
    would give, so the grouped sums add the same numbers in the same order.
    """
    if "peers" not in areas or not areas["peers"].astype(str).str.len().gt(0).any():
        return np.full(k.n, np.nan)
    pairs = _peer_pairs(areas)
    code_of = {label: i for i, label in enumerate(k.area_labels)}
    owner = pairs["owner"].astype(str).map(code_of).to_numpy(dtype=float)
    peer = pairs["peer"].astype(str).map(code_of).to_numpy(dtype=float)
    ok = ~np.isnan(peer)
    owner, peer = owner[ok], peer[ok].astype(np.int64)
    # an owner that is not among the rows' areas has no rows to receive the value
    by_area = np.argsort(k.area, kind="stable")
    first = np.searchsorted(k.area[by_area], np.arange(len(k.area_labels)), side="left")
    count = np.bincount(k.area, minlength=len(k.area_labels))
    lengths = count[peer]
    starts = np.repeat(first[peer] - np.r_[0, np.cumsum(lengths)[:-1]], lengths)
    joined = by_area[starts + np.arange(lengths.sum())]
    owner_rows = np.repeat(owner, lengths)
    keep = ~np.isnan(owner_rows)
    joined, owner_rows = joined[keep], owner_rows[keep].astype(np.int64)
    n_ip = len(k.ind_labels) * len(k.period_labels)
    gid = owner_rows * n_ip + k.ip[joined]
    agg = _group_sums(gid, live[joined], num[joined], den[joined], value[joined])
    group_ind = agg.index.to_numpy() % n_ip // len(k.period_labels)
    values = _comparator_value(agg, vtype[group_ind], mult[group_ind])
    row_gid = k.area.astype(np.int64) * n_ip + k.ip
    out_index = agg.index.to_numpy()
    order = np.argsort(out_index)
    sorted_index = out_index[order]
    pos = np.minimum(np.searchsorted(sorted_index, row_gid), max(len(sorted_index) - 1, 0))
    hit = sorted_index[pos] == row_gid if len(sorted_index) else np.zeros(k.n, dtype=bool)
    return np.where(hit, values[order][pos] if len(sorted_index) else np.nan, np.nan)


def _comparators(
    k: _Keys,
    live: np.ndarray,
    num: np.ndarray,
    den: np.ndarray,
    value: np.ndarray,
    vtype: np.ndarray,
    mult: np.ndarray,
    groups: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]],
    vtype_names: np.ndarray,
) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """England, region and STP values per indicator × period (× group): the long frame, and
    each row's comparator value."""
    frames, per_row = [], {}
    n_ip = len(k.ind_labels) * len(k.period_labels)
    # Rows are summed once into cells (an area's region and STP × indicator × period), and
    # each comparator's groups are sums of cells. Whole numbers whose magnitudes sum below
    # 2**52 add exactly in any order, which is what lets counting (np.bincount) stand in for
    # pandas' Kahan-compensated sums; groups holding anything else are summed by pandas, on
    # their rows in row order, for its bits.
    # each area's region and STP (per area, not per row: one entry an area)
    present = np.bincount(k.area, minlength=len(k.area_labels)) > 0
    area_code = {kind: np.where(present, groups[kind][2], 0) for kind in ("region", "stp")}
    n_stp = len(groups["stp"][1])
    combo_of_area = area_code["region"].astype(np.int64) * n_stp + area_code["stp"]
    combos, combo_of_area = np.unique(combo_of_area, return_inverse=True)
    n_cells = len(combos) * n_ip
    # cells in 4 bytes a row where they fit (half the memory traffic of every gather below)
    cell_type = np.int32 if n_cells < 2**31 - 1 else np.int64
    cell_all = combo_of_area.astype(cell_type)[k.area] * cell_type(n_ip) + k.ip
    cell = np.where(live, cell_all, n_cells)  # rows left out: one more cell, the last
    paired = ~np.isnan(num) & ~np.isnan(den)  # only pairs of counts are summed
    first_row = np.full(n_cells + 1, k.n, dtype=np.int64)
    np.minimum.at(first_row, cell, np.arange(k.n))
    cell_sums, inexact = {}, {}
    scratch = np.empty(k.n)  # one buffer for the checks' temporaries
    for name, x in (("num", num), ("den", den), ("value", value)):
        has = ~np.isnan(x) if name == "value" else paired
        w = np.where(has, x, 0.0)
        cell_sums[name] = np.bincount(cell, weights=w, minlength=n_cells + 1)[:-1]
        odd = np.ones(n_cells + 1, dtype=bool)
        if np.abs(w, out=scratch).sum() < 2**52:
            odd[:] = False
            odd[cell[w != np.floor(w, out=scratch)]] = True
        inexact[name] = odd[:-1]
        if name == "value":
            cell_sums["count"] = np.bincount(cell, weights=has, minlength=n_cells + 1)[:-1]
    cell_ip = np.arange(n_cells) % n_ip
    cell_combo = np.arange(n_cells) // n_ip
    for kind in ("england", "region", "stp"):
        if kind == "england":
            glabels = np.array(["England"], dtype=object)
            of_combo = np.zeros(len(combos), dtype=np.int64)
        else:
            glabels = groups[kind][1]
            of_combo = combos // n_stp if kind == "region" else combos % n_stp
        nonblank = glabels != ""
        if kind != "england" and not nonblank[area_code[kind][present]].any():
            per_row[kind] = np.full(k.n, np.nan)
            continue
        n_groups = len(glabels) * n_ip
        group = np.where(
            nonblank[of_combo][cell_combo], of_combo[cell_combo] * n_ip + cell_ip, n_groups
        )
        first = np.full(n_groups + 1, k.n, dtype=np.int64)
        np.minimum.at(first, group, first_row[:-1])
        gids = np.flatnonzero(first[:-1] < k.n)
        gids = gids[np.argsort(first[gids], kind="stable")]  # in order of first appearance
        ind = gids % n_ip // len(k.period_labels)
        sums = {
            name: np.bincount(group, weights=v, minlength=n_groups + 1)
            for name, v in cell_sums.items()
        }
        odd = {name: np.zeros(n_groups + 1, dtype=bool) for name in inexact}
        for name in inexact:
            odd[name][group[inexact[name]]] = True
        counted = np.zeros(n_groups + 1, dtype=bool)
        counted[gids] = vtype[ind] >= 0
        # the mean is read only where the counts are not (_comparator_value)
        averaged_odd = odd["value"] & ~(counted & (sums["den"] > 0) & ~odd["den"])
        redo = odd["num"] | odd["den"] | averaged_odd
        redo[-1] = False
        mean = np.full(n_groups + 1, np.nan)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean[:] = sums["value"] / sums["count"]
        if redo.any():
            rows = _rows_in_cells(redo[np.r_[group, n_groups]], cell, n_ip, k)
            kahan = _grouped_sums(
                np.r_[group, n_groups][cell[rows]],
                *_paired_counts(num[rows], den[rows]),
                value[rows],
            )
            at = kahan.index.to_numpy()
            sums["num"][at] = kahan["num"].to_numpy()
            sums["den"][at] = kahan["den"].to_numpy()
            mean[at] = kahan["mean_value"].to_numpy()
        agg = pd.DataFrame(
            {
                "num": sums["num"][gids],
                "den": sums["den"][gids],
                "mean_value": mean[gids],
                "n_areas": sums["count"][gids].astype(np.int64),
            }
        )
        value_g = _comparator_value(agg, vtype[ind], mult[ind])
        dense = np.full(n_groups + 1, np.nan)
        dense[gids] = value_g
        # every row takes its group's value, a suppressed one too; blank groups have none
        per_row[kind] = dense[np.r_[group, n_groups]][cell_all]
        columns = {
            "indicator": pd.array(k.ind_labels[ind], dtype="str"),
            "period": pd.array(k.period_labels[gids % len(k.period_labels)], dtype="str"),
        }
        if kind != "england":
            columns["group"] = pd.array(glabels[gids // n_ip].astype(str), dtype="str")
        columns |= {
            "num": agg["num"].to_numpy(),
            "den": agg["den"].to_numpy(),
            "n_areas": agg["n_areas"].to_numpy(dtype=np.int64),
            "value_type": pd.array(vtype_names[ind], dtype="str"),
            "multiplier": mult[ind],
            "value": value_g,
            "comparator": kind,
        }
        if kind == "england":
            columns["group"] = "England"
        frames.append(pd.DataFrame(columns))
    out = pd.concat(frames, ignore_index=True)
    out = out[
        [
            "indicator",
            "period",
            "num",
            "den",
            "n_areas",
            "value_type",
            "multiplier",
            "value",
            "comparator",
            "group",
        ]
    ]
    for col in ("indicator", "period", "group", "comparator"):
        out[col] = out[col].astype(str)
    return out, per_row


def _rows_in_cells(chosen: np.ndarray, cell: np.ndarray, n_ip: int, k: _Keys) -> np.ndarray:
    """Rows (ascending) whose cell (combo × n_ip + indicator × period) is ``chosen``: looked
    for only in the blocks of the indicators that have a chosen cell, not all rows."""
    ip = np.flatnonzero(chosen[:-1]) % n_ip
    indicators = np.unique(ip // len(k.period_labels))
    bounds = np.searchsorted(k.ind, np.c_[indicators, indicators + 1])
    parts = [lo + np.flatnonzero(chosen[cell[lo:hi]]) for lo, hi in bounds]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)


def _workers() -> int:
    """Threads for the analysis's independent stages: the cores this process may use, at most
    two (the stages release the GIL in numpy and pandas, and two lanes keep the peak memory of
    stages running side by side within bounds)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(2, cores))


def _run_stages(
    stages: dict[str, tuple[Callable[..., Any], tuple[str, ...]]], workers: int
) -> dict[str, Any]:
    """Run ``stages`` (name → (function, names of the stages whose results it takes, in the
    order it takes them)) on ``workers`` threads; each stage starts once its inputs are done,
    in the order the dict lists them among those ready. Returns each stage's result.

    An exception in a stage is raised here, after the stages already running have finished.
    """
    done: dict[str, Any] = {}
    if workers <= 1:
        for name, (fn, needs) in stages.items():  # listed in an order that respects needs
            done[name] = fn(*(done[n] for n in needs))
        return done
    waiting = dict(stages)
    running: dict[Future, str] = {}
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="analyse") as pool:
        while waiting or running:
            for name, (fn, needs) in list(waiting.items()):
                if len(running) < workers and all(n in done for n in needs):
                    del waiting[name]
                    running[pool.submit(fn, *(done[n] for n in needs))] = name
            if not running:
                raise ValueError(f"stages wait for results nobody makes: {sorted(waiting)}")
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                name = running.pop(future)
                done[name] = future.result()  # raises the stage's exception, if any
    return done


def analyse(dataset: Dataset, options: Options | None = None) -> Analysis:
    """Every statistic for every indicator × area × period of ``dataset``.

    The stages that do not need each other's results (CIs, comparators, funnels, SPC,
    quintiles, trends) run side by side on the machine's cores (``_run_stages``); each writes
    only its own arrays, so the results are the same as one after another.
    """
    options = options or Options()
    meta = _indicator_table(dataset)
    values, k = _sorted_values(dataset.values)
    vtype_names = _per_indicator(meta, k, "value_type", None)
    vtype_i = np.array([COUNTED.index(v) if v in COUNTED else -1 for v in vtype_names], np.int8)
    polarity_i = np.array(
        [
            POLARITIES.index(p) if p in POLARITIES else -1
            for p in _per_indicator(meta, k, "polarity", "")
        ],
        dtype=np.int8,
    )
    mult_i = _per_indicator(meta, k, "multiplier", np.nan).astype(float)
    vtype, polarity = vtype_i[k.ind], polarity_i[k.ind]

    num = values["numerator"].to_numpy(dtype=float)
    den = values["denominator"].to_numpy(dtype=float)
    value = values["value"].to_numpy(dtype=float)
    live = ~values["suppressed"].to_numpy(dtype=bool)
    period_end = values["period_end"].to_numpy()
    limit_cols = ("lower_95", "upper_95", "lower_998", "upper_998")
    areas = dataset.areas
    prefixes = {"england": "", "region": "region_", "stp": "stp_", "peers": "peers_"}
    sig_labels = list(SIG_LABELS)

    def cis() -> tuple[dict[str, np.ndarray], np.ndarray]:
        supplied = {c: values[c].to_numpy(dtype=float) for c in limit_cols}
        return _cis(num, den, vtype, mult_i, supplied, ind=k.ind)

    def area_groups() -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
        return {kind: _area_attrs(areas, k, kind) for kind in ("region", "stp")}

    def comparators(groups) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
        frame, cmp_value = _comparators(
            k, live, num, den, value, vtype_i, mult_i, groups, vtype_names
        )
        cmp_value["peers"] = _peer_values(areas, k, live, num, den, value, vtype_i, mult_i)
        return frame, cmp_value

    def significance(cis_out, comparators_out) -> dict[str, pd.Categorical]:
        limits, cmp_value = cis_out[0], comparators_out[1]
        codes = _significance_codes(
            {level: (limits[f"lower_{level}"], limits[f"upper_{level}"]) for level in CONFIDENCE},
            {kind: cmp_value[kind] for kind in prefixes},
            polarity,
        )
        return {
            f"{prefixes[kind]}sig_{level}": _categorical(c, sig_labels)
            for (level, kind), c in codes.items()
        }

    def base_columns(cis_out) -> dict[str, Any]:
        limits, ci_method = cis_out
        columns: dict[str, Any] = {}
        for col in values.columns:
            columns[col] = values[col]
        columns["area_code"] = _categorical(k.area, k.area_labels)
        columns["indicator"] = _categorical(k.ind, k.ind_labels)
        columns["period"] = _categorical(k.period, k.period_labels)
        columns.update(limits)
        columns |= {
            "value_type": _labelled(vtype_names)[k.ind],
            "polarity": pd.Categorical.from_codes(
                np.where(polarity >= 0, polarity, -1),
                categories=pd.Index(list(POLARITIES), dtype="str"),
            ),
            "ci_method": _categorical(ci_method, CI_METHODS),
        }
        return columns

    def trends(columns) -> pd.DataFrame:
        return _trends(pd.DataFrame(columns, copy=False), k)

    def quintiles() -> pd.arrays.IntegerArray:
        lower_first = polarity == POLARITIES.index("lower_is_better")
        ind_bounds = np.searchsorted(k.ind, np.arange(len(k.ind_labels) + 1))
        return _quintiles(
            value,
            k.ip,
            lower_first,
            _indicator_slices(ind_bounds, np.diff(ind_bounds), _QUINTILE_SLICE_ROWS),
        )

    def funnels() -> tuple[np.ndarray, pd.Categorical, pd.Categorical, pd.DataFrame]:
        z, outlier, summary = _funnels(k, num, den, vtype, live, options)
        concern = _categorical(_concern(outlier, polarity), CONCERN_LABELS)
        return z, _categorical(outlier, OUTLIER_LABELS), concern, summary

    def spc_stage() -> tuple[pd.DataFrame, np.ndarray, pd.Categorical]:
        limits, starts, point_type = _spc(k, period_end, value, polarity, options)
        return limits, starts, _categorical(point_type + 1, ["", *spc.POINT_TYPES])

    # listed in the order to start them when a thread is free: the stages that need most
    # working memory first, while little of the results is held yet, and the two threads'
    # shares of the work about even
    done = _run_stages(
        {
            "cis": (cis, ()),
            "groups": (area_groups, ()),
            "comparators": (comparators, ("groups",)),
            "significance": (significance, ("cis", "comparators")),
            "funnels": (funnels, ()),
            "spc": (spc_stage, ()),
            "base_columns": (base_columns, ("cis",)),
            "trends": (trends, ("base_columns",)),
            "quintiles": (quintiles, ()),
            "periods": (lambda: _period_table(dataset.values), ()),
        },
        _workers(),
    )
    sig = done["significance"]
    cmp_value = done["comparators"][1]
    funnel_z, outlier, concern, fsummary = done["funnels"]
    spc_limits, series_starts, spc_type = done["spc"]
    columns = done["base_columns"]
    groups = done["groups"]
    columns |= {
        "region": _categorical(*groups["region"][:2]),
        "stp": _categorical(*groups["stp"][:2]),
        "england": cmp_value["england"],
        "sig_95": sig["sig_95"],
        "sig_998": sig["sig_998"],
    }
    for prefix, kind in (("region_", "region"), ("stp_", "stp"), ("peers_", "peers")):
        columns[f"{kind}_value"] = cmp_value[kind]
        columns[f"{prefix}sig_95"] = sig[f"{prefix}sig_95"]
        columns[f"{prefix}sig_998"] = sig[f"{prefix}sig_998"]
    columns |= {
        "quintile": done["quintiles"],
        "funnel_z": funnel_z,
        "funnel_outlier": outlier,
        "funnel_concern": concern,
        "spc_point_type": spc_type,
    }
    results = pd.DataFrame(columns, copy=False)
    bounds = np.searchsorted(k.ind, np.arange(len(k.ind_labels) + 1))
    indicator_rows = {
        str(label): (int(bounds[i]), int(bounds[i + 1]))
        for i, label in enumerate(k.ind_labels)
        if bounds[i + 1] > bounds[i]
    }
    return Analysis(
        results,
        done["comparators"][0],
        fsummary,
        done["trends"],
        options,
        indicator_rows,
        done["periods"],
        spc_limits,
        series_starts,
    )


def _period_table(values: pd.DataFrame) -> pd.DataFrame:
    """Distinct (period, period type, end) rows in order of first appearance, as
    drop_duplicates on the text would give, found on integer codes."""
    period, type_ = values["period"], values["period_type"]
    end = values["period_end"]
    if not (
        isinstance(period.dtype, pd.CategoricalDtype)
        and isinstance(type_.dtype, pd.CategoricalDtype)
        and end.notna().all()
    ):
        return pd.DataFrame(
            {"period": period.astype(str), "kind": type_.astype(str), "end": end}
        ).drop_duplicates()
    n_p, n_t = len(period.cat.categories) + 1, len(type_.cat.categories) + 1
    p_all, t_all = period.cat.codes.to_numpy(), type_.cat.codes.to_numpy()
    ends = end.to_numpy()
    # Usually each (period, type) pair has one end, and then the distinct triples are the
    # pairs in order of first appearance: found by running minima over slices of rows, with
    # no key or hash table as long as the rows
    n, step = len(ends), 1_000_000
    first = np.full(n_p * n_t, n, dtype=np.int64)
    low = np.full(n_p * n_t, np.iinfo(np.int64).max)
    high = np.full(n_p * n_t, np.iinfo(np.int64).min)
    for lo in range(0, n, step):
        pt = (p_all[lo : lo + step].astype(np.int32) + 1) * n_t + t_all[lo : lo + step] + 1
        e = ends[lo : lo + step].view(np.int64)
        np.minimum.at(first, pt, np.arange(lo, lo + len(pt)))
        np.minimum.at(low, pt, e)
        np.maximum.at(high, pt, e)
    seen = np.flatnonzero(first < n)
    if (low[seen] == high[seen]).all():
        uniq = seen[np.argsort(first[seen], kind="stable")]
        e, end_uniques = np.arange(len(uniq)), ends[first[uniq]]
        rest = uniq
    else:
        pt = (p_all.astype(np.int64) + 1) * n_t + t_all + 1
        end_codes, end_uniques = pd.factorize(ends)
        key = end_codes.astype(np.int64) * (n_p * n_t) + pt
        uniq = pd.unique(key)
        e, rest = uniq // (n_p * n_t), uniq % (n_p * n_t)
    p_codes, t_codes = rest // n_t - 1, rest % n_t - 1
    return pd.DataFrame(
        {
            "period": pd.array(
                np.where(
                    p_codes >= 0,
                    period.cat.categories.astype(str).to_numpy(dtype=object)[p_codes],
                    "nan",
                ),
                dtype="str",
            ),
            "kind": pd.array(
                np.where(
                    t_codes >= 0,
                    type_.cat.categories.astype(str).to_numpy(dtype=object)[t_codes],
                    "nan",
                ),
                dtype="str",
            ),
            "end": end_uniques[e],
        }
    )


def latest_per_indicator(results: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    """For each indicator, the rows of its latest period ending on or before ``as_of``."""
    eligible = results.loc[results["period_end"] <= as_of]
    last = eligible.groupby("indicator")["period_end"].transform("max")
    return eligible.loc[eligible["period_end"] == last]
