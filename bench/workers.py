"""One measurement per process: ``python -m bench.workers TASK [options]`` prints one JSON line.

Tasks: ``analyse`` (iaf.analysis.analyse at CCG or practice scale), ``spc`` (a per-series loop
over a PyPI SPC package against iaf.stats.spc.xmr), ``store-save`` / ``store-load`` (iaf.store
round trip of the practice-scale data), ``indicators`` (codes that draw a funnel plot) and
``browser`` (app latency in headless chromium, see :mod:`bench.browser`).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import statistics
import time
import warnings
from typing import Any

import numpy as np
import pandas as pd

from bench.measure import Phase, emit


def _dataset(scale: str):
    from iaf import demo

    return demo.generate() if scale == "ccg" else demo.generate_practices()


# ── 1. the full analysis ─────────────────────────────────────────────────────────────────
def analyse(scale: str) -> dict[str, Any]:
    from iaf import analysis

    ds = _dataset(scale)
    warnings.simplefilter("ignore")  # numpy's divide warnings on empty cells are expected
    with Phase() as ph:
        result = analysis.analyse(ds)
    # Mann–Kendall and Theil–Sen per series are not part of analyse (no page reads them; they
    # are worked out on first use), so they are timed apart, with the analysis in memory
    with Phase() as tests:
        result.series_trends()
    return {
        "seconds": ph.seconds,
        "peak_bytes": ph.peak,
        "process_peak_bytes": ph.process_peak,
        "peak_reset": ph.reset,
        "rows": len(ds.values),
        "series_trends_seconds": tests.seconds,
        "series_trends_peak_bytes": tests.peak,
        "series": len(result.trends),
    }


# ── 2. SPC: a per-series loop over a PyPI package against ours ───────────────────────────
def _spc_frame() -> pd.DataFrame:
    """Every area × indicator series of the CCG demo, as iaf.analysis feeds iaf.stats.spc."""
    from iaf import demo

    v = demo.generate().values
    v = v.loc[v["value"].notna()]
    return pd.DataFrame(
        {
            "series": v["area_code"].astype(str) + "|" + v["indicator"].astype(str),
            "period": v["period_end"].to_numpy(),
            "value": v["value"].to_numpy(dtype=float),
        }
    ).sort_values(["series", "period"], ignore_index=True)


def _controlchartspy_one(group: pd.DataFrame) -> list[dict]:
    from controlchartspy import spc

    # Making Data Count as NHSRplotthedots applies it: every rule on, shift and trend of 7
    # (the package's own default trend is 5), limits without the screened moving ranges
    # (its default), no plot (limits only).
    chart = spc(
        data={"period": list(group["period"].dt.date), "value": list(group["value"])},
        keys="period",
        numerators="value",
        outlier_settings={
            "improvement_direction": "increase",
            "astronomical": True,
            "shift": True,
            "shift_n": 7,
            "trend": True,
            "trend_n": 7,
            "two_in_three": True,
        },
        return_objs="limits",
    )
    return chart.limits


def _abspc_one(group: pd.DataFrame) -> pd.DataFrame:
    import abspc

    data = group.reset_index(drop=True)
    limits = abspc.calculate_control_limits(data, "XmR", value_col="value")
    flagged = abspc.detect_special_causes(limits)
    flagged["colour"] = abspc.determine_point_colours(flagged, improvement_direction="high")
    return flagged


LOOPS = {"controlchartspy": _controlchartspy_one, "abspc": _abspc_one}


def _agreement(package: str, theirs: dict[str, Any], ours: pd.DataFrame) -> dict[str, float]:
    """Share of series whose upper limit agrees with ours within 0.2% and whose points are
    flagged special cause exactly where ours are (a check that the loop does the same work)."""
    limits_ok = flags_ok = 0
    mine = dict(tuple(ours.groupby("series", sort=False)))
    for key, out in theirs.items():
        m = mine[key]
        if package == "controlchartspy":
            frame = pd.DataFrame(out)
            nan = pd.Series(np.nan, index=frame.index)
            upper = frame.get("ul99", nan).to_numpy(dtype=float)
            rules = [r for r in ("astpoint", "trend", "shift", "two_in_three") if r in frame]
            flag = (frame[rules].fillna("none") != "none").any(axis=1).to_numpy()
        else:
            upper = out["ucl"].to_numpy(dtype=float)
            flag = out["special_cause"].to_numpy(dtype=bool)
        limits_ok += bool(
            np.allclose(upper, m["upl"].to_numpy(dtype=float), rtol=2e-3, equal_nan=True)
        )
        flags_ok += bool((flag == m["special_cause_flag"].to_numpy()).all())
    n = max(len(theirs), 1)
    return {"limits_agree": limits_ok / n, "flags_agree": flags_ok / n}


def spc(n_series: int, repeats: int, seed: int = 20170401) -> dict[str, Any]:
    from iaf.stats import spc as ours

    warnings.simplefilter("ignore")
    frame = _spc_frame()
    keys = frame["series"].unique()
    rng = np.random.default_rng(seed)
    picked = np.sort(rng.choice(keys, size=min(n_series, len(keys)), replace=False))
    subset = frame.loc[frame["series"].isin(picked)].reset_index(drop=True)

    def time_ours(data: pd.DataFrame) -> float:
        runs = []
        for _ in range(max(repeats, 5)):  # milliseconds: more repeats cost nothing
            t0 = time.perf_counter()
            ours.xmr(data, improvement="increase")
            runs.append(time.perf_counter() - t0)
        return statistics.median(runs)

    ours.xmr(subset)  # warm-up (imports, first-call allocations), as the loops get below
    result: dict[str, Any] = {
        "subset_series": len(picked),
        "subset_points": len(subset),
        "all_series": len(keys),
        "all_points": len(frame),
        "ours_subset_s": time_ours(subset),
        "ours_all_s": time_ours(frame),
        "packages": {},
    }
    ours_subset = ours.xmr(subset, improvement="increase")
    for package, one in LOOPS.items():
        version = importlib.metadata.version(package)
        one(subset.iloc[:20])  # warm-up: imports, controlchartspy's JavaScript engine start
        runs = []
        out: dict[str, Any] = {}
        for _ in range(repeats):
            t0 = time.perf_counter()
            # What a user does without a vectorised implementation: one call per series.
            out = {key: one(group) for key, group in subset.groupby("series", sort=True)}
            runs.append(time.perf_counter() - t0)
        result["packages"][package] = {
            "version": version,
            "loop_s": statistics.median(runs),
            **_agreement(package, out, ours_subset),
        }
    return result


# ── 4. the saved store ───────────────────────────────────────────────────────────────────
def store_save(root: str) -> dict[str, Any]:
    from iaf.store import Store

    ds = _dataset("practice")
    t0 = time.perf_counter()
    info = Store(root).save(ds, "bench practices")
    return {"id": info.id, "rows": len(ds.values), "save_s": time.perf_counter() - t0}


def store_load(root: str, dataset_id: str) -> dict[str, Any]:
    from iaf.store import Store

    store = Store(root)
    with Phase() as ph:
        ds = store.load(dataset_id)
    return {
        "seconds": ph.seconds,
        "peak_bytes": ph.peak,
        "process_peak_bytes": ph.process_peak,
        "rows": len(ds.values),
    }


# ── 3. helpers for the browser measurements ──────────────────────────────────────────────
def indicators(scale: str) -> dict[str, Any]:
    """Indicators that draw a funnel plot on the explorer's default view (their last period),
    with the number of points each draws."""
    from iaf import analysis, views

    warnings.simplefilter("ignore")
    ds = _dataset(scale)
    result = analysis.analyse(ds)
    codes, failing, points = [], {}, {}
    for ind in ds.indicators():
        if not ind.has_counts:
            continue
        periods = views.indicator_periods_view(ds, result, indicator=ind.code)
        try:
            fv = views.funnel_view(ds, result, indicator=ind.code, period=periods[-1])
        except Exception as exc:  # the page would show its error message, not a chart
            failing[ind.code] = f"{type(exc).__name__}: {exc}"
            continue
        if "reason" not in fv:
            codes.append(ind.code)
            points[ind.code] = len(fv["points"])
    return {"codes": codes, "failing": failing, "points": points}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.workers")
    sub = parser.add_subparsers(dest="task", required=True)
    p = sub.add_parser("analyse")
    p.add_argument("--scale", choices=["ccg", "practice"], required=True)
    p = sub.add_parser("spc")
    p.add_argument("--series", type=int, default=200)
    p.add_argument("--repeats", type=int, default=3)
    p = sub.add_parser("store-save")
    p.add_argument("--root", required=True)
    p = sub.add_parser("store-load")
    p.add_argument("--root", required=True)
    p.add_argument("--id", required=True)
    p = sub.add_parser("indicators")
    p.add_argument("--scale", choices=["ccg", "practice"], required=True)
    p = sub.add_parser("browser")
    p.add_argument("--target", choices=["app", "floor"], required=True)
    p.add_argument("--data", default="demo", help="the app's ?data= key (app only)")
    p.add_argument("--points", type=int, default=0, help="points the floor draws")
    p.add_argument("--codes", default="", help="comma-separated indicators, in order (app)")
    p.add_argument("--changes", type=int, default=20)
    p.add_argument("--cold-timeout", type=float, default=1800)
    args = parser.parse_args()
    if args.task == "analyse":
        emit(analyse(args.scale))
    elif args.task == "spc":
        emit(spc(args.series, args.repeats))
    elif args.task == "store-save":
        emit(store_save(args.root))
    elif args.task == "store-load":
        emit(store_load(args.root, args.id))
    elif args.task == "indicators":
        emit(indicators(args.scale))
    else:
        from bench import browser

        emit(
            browser.measure(
                target=args.target,
                data=args.data,
                points=args.points,
                codes=[c for c in args.codes.split(",") if c],
                changes=args.changes,
                cold_timeout=args.cold_timeout,
            )
        )


if __name__ == "__main__":
    main()
