"""Run the benchmark suite and print a table of figures beside their targets.

``python -m bench.run [--quick] [--only analysis,spc,browser,store] [--scale ccg]``
(``./scripts/bench.sh`` installs what it needs first). The table goes to stdout and, as
markdown, to ``bench/latest.md``. Every figure is the median of ``--runs`` fresh processes
(3; 1 with ``--quick``); see ``bench/__init__.py`` and the notes printed under the table.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from dataclasses import dataclass

from bench.measure import GIB, REPO, app_picks, median, percentile, run_child

SECTIONS = ("analysis", "spc", "browser", "store")
LATEST = REPO / "bench" / "latest.md"


@dataclass(frozen=True)
class Figure:
    section: str
    figure: str
    value: str
    target: str = "—"
    met: bool | None = None


def _s(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.2f} s"


def _gib(n: float) -> str:
    return f"{n / GIB:.2f} GiB"


def _ratio(x: float) -> str:
    return f"{x:,.0f}×" if x >= 10 else f"{x:.2f}×"


def _per(seconds: float) -> str:
    us = seconds * 1e6
    return f"{us / 1000:.2f} ms" if us >= 1000 else f"{us:.1f} µs"


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.runs = 1 if args.quick else args.runs
        self.figures: list[Figure] = []
        self.notes: list[str] = []
        self.scales = ["ccg"] if args.scale == "ccg" else ["ccg", "practice"]

    def add(self, *args, **kwargs) -> None:
        fig = Figure(*args, **kwargs)
        self.figures.append(fig)
        met = "" if fig.met is None else ("  [met]" if fig.met else "  [NOT met]")
        print(f"  {fig.figure}: {fig.value}{met}", flush=True)

    def child(self, *args: str, timeout: float = 3600) -> dict:
        return run_child(list(args), timeout=timeout).result

    def repeated(self, *args: str, timeout: float = 3600) -> list[dict]:
        return [self.child(*args, timeout=timeout) for _ in range(self.runs)]

    # ── 1 ────────────────────────────────────────────────────────────────────────────
    def analysis(self) -> None:
        for scale in self.scales:
            print(f"analysis, {scale} scale ({self.runs} fresh processes) …", flush=True)
            results = self.repeated("analyse", "--scale", scale)
            seconds = median([r["seconds"] for r in results])
            peak = median([r["peak_bytes"] for r in results])
            rows = results[0]["rows"]
            label = f"Full analysis `analyse(ds)`, {scale.upper()} scale ({rows:,} rows)"
            if scale == "practice":
                self.add("analysis", f"{label}: time", _s(seconds), "< 5 s", seconds < 5)
                self.add("analysis", f"{label}: peak RSS", _gib(peak), "< 2 GiB", peak < 2 * GIB)
            else:
                self.add("analysis", f"{label}: time", _s(seconds))
                self.add("analysis", f"{label}: peak RSS", _gib(peak))
            tests = median([r["series_trends_seconds"] for r in results])
            tests_peak = median([r["series_trends_peak_bytes"] for r in results])
            self.add(
                "analysis",
                f"Mann–Kendall + Theil–Sen for all {results[0]['series']:,} series "
                f"(`Analysis.series_trends()`, on first use), {scale.upper()} scale",
                f"{_s(tests)}, peak RSS {_gib(tests_peak)}",
            )
            if not all(r["peak_reset"] for r in results):
                self.notes.append(
                    "The kernel refused to reset the peak-RSS mark, so analysis "
                    "peaks include generating the data."
                )
        self.notes.append(
            "Analysis: each run is a fresh process that generates the demo data (not timed), "
            "then times `iaf.analysis.analyse(ds)`. Peak RSS is the process's resident high-water "
            "mark during the analysis with the dataset already in memory (the mark is reset "
            'after generating it); the machine has 2 cores, so "on 2 cores" is this machine. '
            "`analyse` computes CIs, the four comparators with significance, quintiles, funnels "
            "with overdispersion for every indicator × period, XmR SPC with all rules for every "
            "series and Fingertips' recent-trend test (the trend the pages show) for every "
            "series; its independent stages run on two threads. Mann–Kendall and Theil–Sen per "
            "series are computed on first use (no page reads them), timed apart in the same "
            "process with the analysis in memory."
        )

    # ── 2 ────────────────────────────────────────────────────────────────────────────
    def spc(self) -> None:
        n = self.args.spc_series
        print(
            f"SPC: per-series loops over PyPI packages vs iaf.stats.spc on {n} series …", flush=True
        )
        r = self.child("spc", "--series", str(n), "--repeats", str(self.runs))
        sub, allp = r["ours_subset_s"], r["ours_all_s"]
        ours_sub_per = sub / r["subset_series"]
        ours_all_per = allp / r["all_series"]
        self.add(
            "spc",
            f"SPC ours `iaf.stats.spc.xmr`, the same {r['subset_series']} series (one call)",
            f"{_s(sub)} ({_per(ours_sub_per)}/series)",
        )
        self.add(
            "spc",
            f"SPC ours, all {r['all_series']:,} CCG-scale series ({r['all_points']:,}"
            " points, one call)",
            f"{_s(allp)} ({_per(ours_all_per)}/series)",
        )
        for package, p in r["packages"].items():
            per = p["loop_s"] / r["subset_series"]
            name = f"{package} {p['version']}"
            self.add(
                "spc",
                f"SPC loop over series calling {name}, {r['subset_series']} series",
                f"{_s(p['loop_s'])} ({_per(per)}/series)",
            )
            ratio_all = per / ours_all_per
            ratio_sub = p["loop_s"] / sub
            self.add(
                "spc",
                f"SPC speed-up vs {name}: per series, ours vectorised over all series",
                _ratio(ratio_all),
                "≥ 100×",
                ratio_all >= 100,
            )
            self.add(
                "spc",
                f"SPC speed-up vs {name}: same {r['subset_series']} series",
                _ratio(ratio_sub),
                "≥ 100×",
                ratio_sub >= 100,
            )
            self.notes.append(
                f"SPC, {name}: on the subset its upper limits agree with ours within 0.2% for "
                f"{p['limits_agree']:.0%} of series and its special-cause flags match ours "
                f"point for point for {p['flags_agree']:.0%} (differences are in method, "
                "not in work done)."
            )
        self.notes.append(
            f"SPC: {r['subset_series']} series drawn at random (fixed seed) from the CCG demo's "
            f"{r['all_series']:,} area × indicator series, missing values dropped; the loop is "
            "`for key, group in frame.groupby('series')` calling the package once per series, as "
            f"a user would. Times are medians of {self.runs} loops (ours: of ≥5 calls) in one "
            "process after a warm-up call."
        )

    # ── 3 ────────────────────────────────────────────────────────────────────────────
    def browser_runs(self, *args: str) -> dict:
        n = self.args.browser_runs or self.runs
        runs = [self.child("browser", *args, timeout=7200) for _ in range(n)]
        changes = [r["changes_ms"] for r in runs]
        return {
            "cold": median([r["cold_start_s"] for r in runs]),
            "p50": median([percentile(c, 50) / 1000 for c in changes]),
            "p95": median([percentile(c, 95) / 1000 for c in changes]),
            "marks": runs[0]["marks"],
            "renderer": runs[0]["renderer"],
            "server_peak": max(r["server_peak_bytes"] for r in runs),
            "errors": sum(r["server_errors"] for r in runs),
            "redrawn": sum(r["charts_redrawn"] for r in runs),
            "total": sum(len(c) for c in changes),
            "n": len(changes[0]),
        }

    def browser(self) -> None:
        changes = str(self.args.changes)
        for scale in self.scales:
            data = "demo" if scale == "ccg" else "demo-practices"
            found = self.child("indicators", "--scale", scale)
            codes = found["codes"]
            for code, error in found["failing"].items():
                self.notes.append(
                    f"{scale.upper()} scale: `views.funnel_view` fails for {code} "
                    f"({error}); the explorer shows an error there, so it is not "
                    "among the indicators picked."
                )
            print(
                f"browser, {scale} scale: app ({self.runs} fresh servers × {changes} "
                "indicator changes) …",
                flush=True,
            )
            app = self.browser_runs(
                "--target", "app", "--data", data, "--codes", ",".join(codes), "--changes", changes
            )
            if app["marks"] <= 0:
                raise RuntimeError("could not tell how many points the app's funnel chart drew")
            if app["marks"] != found["points"][codes[0]]:
                raise RuntimeError(
                    f"the app's first chart drew {app['marks']:,} points; funnel_view gives "
                    f"{found['points'][codes[0]]:,}"
                )
            # The floor draws as many points as the app's charts after a change do (the median
            # over the indicators picked), not as its first chart does.
            drawn = [found["points"][code] for code in app_picks(codes, self.args.changes)]
            points = round(median(drawn))
            print(f"browser, floor page with {points:,} points …", flush=True)
            floor = self.browser_runs(
                "--target", "floor", "--points", str(points), "--changes", changes
            )
            tag = scale.upper()
            redrawn = (
                f"A chart was redrawn in {app['redrawn']} of {app['total']} indicator changes "
                f"(floor: {floor['redrawn']} of {floor['total']})."
                if app["renderer"] == "svg"
                else "Both are canvases, whose redraw changes nothing in the page's DOM: a "
                "change counts as done once the rerun's new text is in the page and it has "
                "settled."
            )
            after = (
                f"{points:,} after each of the {len(drawn)} changes"
                if min(drawn) == max(drawn)
                else f"{min(drawn):,} to {max(drawn):,} (median {points:,}) after the "
                f"{len(drawn)} changes"
            )
            self.notes.append(
                f"{tag} scale: the app's funnel chart drew {app['marks']:,} points on first "
                f"load ({app['renderer']}) and {after}; the floor drew {floor['marks']:,} "
                f"({floor['renderer']}). {redrawn}"
            )
            self.add("browser", f"App cold start to first chart, {tag} scale", _s(app["cold"]))
            self.add(
                "browser",
                f"Floor cold start to first chart ({points:,} points)",
                _s(floor["cold"]),
            )
            for q in ("p50", "p95"):
                target, met = "—", None
                if scale == "practice":
                    target, met = "< 1 s", app[q] < 1
                self.add(
                    "browser",
                    f"Indicator change → redrawn page, {tag} scale, {q} of {app['n']}",
                    _s(app[q]),
                    target,
                    met,
                )
            for q in ("p50", "p95"):
                self.add(
                    "browser",
                    f"Floor: selectbox change → redrawn {points:,}-point "
                    f"scatter, {q} of {floor['n']}",
                    _s(floor[q]),
                )
            for q in ("p50", "p95"):
                ratio = app[q] / floor[q]
                target, met = ("≤ 1.5×", ratio <= 1.5) if scale == "ccg" else ("—", None)
                self.add(
                    "browser",
                    f"Indicator change ÷ floor, {tag} scale, {q}",
                    _ratio(ratio),
                    target,
                    met,
                )
            self.add("browser", f"App server peak RSS, {tag} scale", _gib(app["server_peak"]))
            if app["errors"]:
                self.notes.append(
                    f"The app server logged {app['errors']} tracebacks at {tag} scale."
                )
        self.notes.append(
            "Browser: headless Debian chromium via Playwright, 1600×1000. Cold start runs from "
            "launching `streamlit run` (fresh server: the demo data are generated and analysed "
            "on the first visit) to the first chart drawn on /explorer?ind=…, script finished. "
            'An indicator change drives the sidebar "Indicator" combobox as a user does '
            "(click, type the code, click the option), each time a different indicator with a "
            "funnel plot, and is timed in the page from the option's pointerdown to the first "
            "frame after the rerun's last DOM change, once the script has run and finished, no "
            "spinner or status widget shows and the page has been quiet for 300 ms (not "
            "counted). The floor is bench/floor_app.py: a "
            "selectbox and an Altair scatter of as many points as the app's funnel charts "
            "draw after a change (the median over the indicators picked), timed the same way "
            "in the same run, on the same server settings (.streamlit/config.toml). Medians over "
            f"{self.args.browser_runs or self.runs} fresh "
            "server(s) of each run's p50/p95."
        )

    # ── 4 ────────────────────────────────────────────────────────────────────────────
    def store(self) -> None:
        print(
            "store: saving the practice-scale dataset once, then loading it in fresh processes …",
            flush=True,
        )
        with tempfile.TemporaryDirectory(prefix="iaf-bench-store-") as root:
            saved = self.child("store-save", "--root", root)
            results = self.repeated("store-load", "--root", root, "--id", saved["id"])
        seconds = median([r["seconds"] for r in results])
        peak = median([r["peak_bytes"] for r in results])
        label = f"Load the saved {results[0]['rows'] / 1e6:.1f}M-row dataset `Store.load`"
        self.add("store", f"{label}: time", _s(seconds), "< 2 s", seconds < 2)
        self.add("store", f"{label}: peak RSS", _gib(peak))
        self.notes.append(
            f"Store: the practice-scale dataset is saved once ({_s(saved['save_s'])}), then each "
            "fresh process times `iaf.store.Store(root).load(id)`; the files were just written, "
            "so they are in the OS page cache (a warm load, as in a running app)."
        )


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if "model name" in line)
    except (OSError, StopIteration):
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    load = os.getloadavg()[0]
    return (
        f"{os.cpu_count()} cores ({cpu}), {mem / GIB:.0f} GiB RAM, Python "
        f"{platform.python_version()}, load average {load:.1f} at start"
    )


def table(figures: list[Figure]) -> tuple[str, str]:
    header = ("Figure", "Value", "Target", "Met?")
    rows = [
        (f.figure, f.value, f.target, "—" if f.met is None else ("yes" if f.met else "NO"))
        for f in figures
    ]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]
    line = "  ".join("-" * w for w in widths)
    text = "\n".join(
        ["  ".join(c.ljust(w) for c, w in zip(header, widths, strict=True)), line]
        + ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    )
    md = "\n".join(
        ["| " + " | ".join(header) + " |", "|---|---:|---|---|"]
        + ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in rows]
    )
    return text, md


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="one run per figure instead of 3")
    parser.add_argument("--runs", type=int, default=3, help="fresh processes per figure")
    parser.add_argument("--only", default=",".join(SECTIONS), help="comma-separated sections")
    parser.add_argument(
        "--scale",
        choices=["all", "ccg"],
        default="all",
        help="ccg: skip the practice-scale (7.4M-row) figures",
    )
    parser.add_argument("--changes", type=int, default=20, help="indicator changes per server")
    parser.add_argument(
        "--browser-runs",
        type=int,
        default=0,
        help="fresh servers per browser figure (default: --runs)",
    )
    parser.add_argument("--spc-series", type=int, default=200, help="series in the SPC loop")
    parser.add_argument("--no-write", action="store_true", help="do not write bench/latest.md")
    args = parser.parse_args(argv)
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(only) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections {sorted(unknown)}; choose from {', '.join(SECTIONS)}")

    bench = Bench(args)
    about = machine()
    print(f"IAF Explorer benchmarks on {about}", flush=True)
    started = time.monotonic()
    for section in SECTIONS:
        if section in only:
            try:
                getattr(bench, section)()
            except Exception as exc:  # one broken section must not lose the others' figures
                print(f"{section} failed: {exc}", file=sys.stderr, flush=True)
                bench.add(section, f"{section}: the measurement failed", "failed")
                bench.notes.append(f"{section} failed: {str(exc).strip().splitlines()[-1]}")
    took = time.monotonic() - started

    text, md = table(bench.figures)
    notes = [
        *bench.notes,
        f"Machine: {about}. The whole run took {took / 60:.1f} min "
        f"(`python -m bench.run {' '.join(sys.argv[1:] if argv is None else argv)}`).",
    ]
    print("\n" + text + "\n")
    for note in notes:
        print(f"- {note}")
    if not args.no_write:
        stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        LATEST.write_text(
            f"Benchmarks of {stamp} (`./scripts/bench.sh`).\n\n{md}\n\n"
            + "\n".join(f"- {n}" for n in notes)
            + "\n"
        )
        print(f"\nwritten to {LATEST.relative_to(REPO)}")
    return 0  # a missed target is a finding for the table, not a failure of the run


if __name__ == "__main__":
    raise SystemExit(main())
