"""``python -m iaf``: the headless face of the module, for pipelines and tests.

A thin layer over the same functions the app calls: CSV in, CSV out (stdout or ``--output``),
a clear message and a non-zero exit on bad input, never a traceback.
"""

from __future__ import annotations

import argparse
import io
import logging
import re
import sys
import tempfile
import traceback
import uuid
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from iaf import catalogue
from iaf.errors import InputError

log = logging.getLogger("iaf")

EXIT_BAD_INPUT = 2
EXIT_INTERNAL = 3


def _read_csv(path: str) -> pd.DataFrame:
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{path}: no such file")
    try:
        frame = pd.read_csv(p, dtype_backend="numpy_nullable").pipe(
            lambda f: f.rename(columns=lambda c: str(c).strip())
        )
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except pd.errors.EmptyDataError:
        raise InputError(f"{path} is empty: it has no header and no rows") from None
    except pd.errors.ParserError as exc:
        raise InputError(f"{path}: not a readable CSV file ({exc})") from None
    if frame.empty:
        # As `validate` says it: every command refuses a file with nothing to compute on.
        raise InputError(f"{p.name} has a header but no data rows")
    return frame


def _need(frame: pd.DataFrame, path: str, *cols: str | None) -> None:
    missing = [c for c in cols if c is not None and c not in frame.columns]
    if missing:
        raise InputError(
            f"{path}: no column named {', '.join(repr(c) for c in missing)} "
            f"(columns are: {', '.join(map(str, frame.columns))})"
        )


def _numeric(frame: pd.DataFrame, col: str, path: str) -> np.ndarray:
    values = pd.to_numeric(frame[col], errors="coerce")
    bad = values.isna() & frame[col].notna()
    if bad.any():
        rows = ", ".join(str(i + 2) for i in np.flatnonzero(bad.to_numpy())[:5])
        raise InputError(f"{path}: text where a number belongs in column {col!r} (rows {rows})")
    return values.to_numpy(dtype="float64", na_value=np.nan)


def _write(frame: pd.DataFrame, output: str | None) -> None:
    if output:
        frame.to_csv(output, index=False)
    else:
        buf = io.StringIO()
        frame.to_csv(buf, index=False, lineterminator="\n")
        sys.stdout.write(buf.getvalue())


# ── subcommands ──────────────────────────────────────────────────────────────────────────
def cmd_indicators(args: argparse.Namespace) -> int:
    _write(catalogue.catalogue_frame(), args.output)
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from iaf import loaders

    mapping = _parse_mapping(args.map)
    result = loaders.load_values(
        args.file,
        name=Path(args.file).name,
        format=args.format,
        mapping=mapping or None,
        sheet=args.sheet,
    )
    report = result.report
    summary = {
        "rows": len(result.values),
        "areas": int(result.values["area_code"].nunique()),
        "periods": int(result.values["period"].nunique()),
        "indicators": int(result.values["indicator"].nunique()),
        "suppressed": int(result.values["suppressed"].sum()),
        "rejected": report.n_rejected,
    }
    print(f"{args.file}: " + ", ".join(f"{k} {v}" for k, v in summary.items()))
    for problem in report.problems:
        print(f"{problem.severity}: {problem.message}", file=sys.stderr)
    if args.rejected and report.n_rejected:
        report.rejected.to_csv(args.rejected, index=False)
    if report.errors or not len(result.values):
        return 1
    return 0


# The spec and --help write ``--map area=COL``; the loader's target is ``area_code``.
_MAP_ALIASES = {"area": "area_code"}


def _parse_mapping(items: Sequence[str] | None) -> dict[str, object]:
    mapping: dict[str, object] = {}
    for item in items or []:
        if "=" not in item:
            raise InputError(f"--map {item!r}: expected TARGET=COLUMN (or TARGET=fixed:VALUE)")
        target, column = (s.strip() for s in item.split("=", 1))
        target = _MAP_ALIASES.get(target, target)
        mapping[target] = {"fixed": column[6:]} if column.startswith("fixed:") else column
    return mapping


def _percent(text: str) -> float:
    """``--confidence 95`` → 0.95; a usage error (not an internal error) for ``abc``."""
    try:
        return float(text) / 100
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a percentage such as 95") from None


def _file_rows(message: str) -> str:
    """iaf.stats.ci names array positions (0 = first value); a file's reader wants its row
    numbers (the header is row 1, so position 0 is row 2)."""

    def rows(match: re.Match[str]) -> str:
        numbers = re.sub(r"\d+", lambda n: str(int(n.group()) + 2), match.group(2))
        return ("file row " if match.group(1) == "position" else "file rows ") + numbers

    return re.sub(r"\b(positions?) ((?:\d+(?:, )?)+)", rows, message)


def cmd_ci(args: argparse.Namespace) -> int:
    from iaf.stats import ci

    frame = _read_csv(args.file)
    _need(frame, args.file, args.numerator, args.denominator)
    levels = tuple(args.confidence)
    value_type = "proportion" if args.method == "wilson" else "rate"
    num = _numeric(frame, args.numerator, args.file)
    den = _numeric(frame, args.denominator, args.file)
    try:
        result = ci.indicator_cis(
            num, den, value_type, multiplier=args.multiplier, confidence=levels
        )
    except InputError as exc:
        message = str(exc)
        if "position" not in message:
            raise
        raise InputError(f"{args.file}: {_file_rows(message)}") from None
    out = frame.copy()
    for col in result.columns:
        if col.startswith(("lower_", "upper_")):
            out[col] = result[col].to_numpy()
    out["ci_method"] = result["method"].to_numpy()
    _write(out, args.output)
    return 0


def cmd_funnel(args: argparse.Namespace) -> int:
    from iaf.stats import funnel

    frame = _read_csv(args.file)
    _need(frame, args.file, args.area, args.numerator, args.denominator)
    data_type = {"proportion": "PR", "ratio": "SR", "ratio-of-counts": "RC"}[args.type]
    res = funnel.funnel(
        _numeric(frame, args.numerator, args.file),
        _numeric(frame, args.denominator, args.file),
        data_type,
        groups=frame[args.area].astype(str).to_numpy(),
        limit=float(args.limit),
        sr_method=args.sr_method.upper(),
        trim=args.trim,
        adjust=not args.no_adjust,
        shmi_rounding=not args.no_shmi_rounding,
    )
    p = res.points
    out = pd.DataFrame(
        {
            "area": p["group"],
            "numerator": p["numerator"],
            "denominator": p["denominator"],
            "value": p["value"],
            "z": p["z"],
            "z_winsorised": p["z_winsorised"],
            "lower_95": p["lower_95"],
            "upper_95": p["upper_95"],
            "lower_998": p["lower_998"],
            "upper_998": p["upper_998"],
            "outlier": p["outlier"],
            "phi": res.phi,
            "tau2": res.tau2,
            "adjusted": res.adjusted,
        }
    )
    _write(out, args.output)
    return 0


def cmd_spc(args: argparse.Namespace) -> int:
    from iaf.stats import spc

    frame = _read_csv(args.file)
    _need(frame, args.file, args.series, args.period, args.value)
    periods = frame[args.period].astype(str)
    as_dates = pd.to_datetime(periods, errors="coerce", format="mixed")
    period_key = as_dates if as_dates.notna().all() else periods
    data = pd.DataFrame(
        {
            "series": frame[args.series].astype(str),
            "period": period_key,
            "value": _numeric(frame, args.value, args.file),
        }
    )
    rebase = None
    if args.rebase and as_dates.notna().all():
        given = pd.Series(args.rebase, dtype=str)
        parsed = pd.to_datetime(given, errors="coerce", format="mixed")
        # dateutil reads "Feb" or "3" as a day of the current year: a rebase date needs its year.
        parsed = parsed.where(given.str.contains(r"\d{4}", regex=True))
        if parsed.isna().any():
            bad = ", ".join(repr(r) for r in given[parsed.isna()])
            raise InputError(
                f"--rebase {bad}: not a date, and the periods in column {args.period!r} are dates"
            )
        rebase = list(parsed)
    elif args.rebase:
        rebase = list(args.rebase)
    points = spc.xmr(
        data,
        improvement=args.improvement,
        rebase=rebase,
        fix_after_n_points=args.fix_after,
        target=args.target,
        screen_outliers=not args.no_screen,
        rules=args.rules,
    )
    out = points[
        ["series", "period", "value", "mean", "lpl", "upl", "special_cause_type", "point_type"]
    ].copy()
    if as_dates.notna().all():
        out["period"] = pd.to_datetime(out["period"]).dt.strftime("%Y-%m-%d")
    _write(out, args.output)
    if args.summary:
        summary = spc.xmr_summary(points)
        summary.rename(
            columns={
                "variation_type_last_point": "variation_icon",
                "assurance_type": "assurance_icon",
            }
        ).to_csv(args.summary, index=False)
    return 0


def cmd_trend(args: argparse.Namespace) -> int:
    from iaf.stats import trend

    frame = _read_csv(args.file)
    if args.value is None and (args.numerator is None or args.denominator is None):
        raise InputError("trend needs --value COL, or --numerator COL and --denominator COL")
    _need(frame, args.file, args.series, args.period, args.value, args.numerator, args.denominator)
    data = pd.DataFrame({"series": frame[args.series].astype(str), "t": frame[args.period]})
    # Ranks stand in for time below, so a repeated period would silently become two points.
    repeated = data.duplicated(["series", "t"], keep=False).to_numpy()
    if repeated.any():
        rows = ", ".join(str(i + 2) for i in np.flatnonzero(repeated)[:5])
        raise InputError(
            f"{args.file}: a period repeats within a series (columns {args.series!r}, "
            f"{args.period!r}) in rows {rows}"
        )
    if args.numerator:
        data["numerator"] = _numeric(frame, args.numerator, args.file)
        data["denominator"] = _numeric(frame, args.denominator, args.file)
        data["value"] = data["numerator"] / data["denominator"]
    else:
        data["value"] = _numeric(frame, args.value, args.file)
        data["numerator"] = np.nan
        data["denominator"] = np.nan
    data = data.sort_values(["series", "t"], kind="stable")
    data["rank"] = data.groupby("series").cumcount() + 1
    mk = trend.mann_kendall(data.dropna(subset=["value"]), series="series", time="rank")
    ts = trend.theil_sen(data.dropna(subset=["value"]), series="series", time="rank")
    if args.numerator:
        recent = trend.fingertips_recent_trend(
            data,
            series="series",
            order="rank",
            value_type="proportion",
            polarity=args.polarity,
        )
    else:
        recent = trend.fingertips_recent_trend(
            data.assign(numerator=1.0, denominator=1.0),
            series="series",
            order="rank",
            value_type="other",
            polarity=args.polarity,
            value="value",
        )
    out = (
        mk[["series", "kendall_tau", "p_value"]]
        .merge(ts[["series", "slope"]].rename(columns={"slope": "theil_sen_slope"}), on="series")
        .merge(
            recent[["series", "chi2", "p_value", "direction"]].rename(
                columns={"chi2": "chi2_trend", "p_value": "chi2_p_value"}
            ),
            on="series",
            how="left",
        )
    )
    _write(out, args.output)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from iaf import demo

    paths = demo.write_examples(Path(args.directory))
    for p in paths:
        print(p)
    return 0


# ── parser ───────────────────────────────────────────────────────────────────────────────
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m iaf",
        description="IAF Explorer's indicator module: catalogue, validation and statistics.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("indicators", help="the 57-indicator catalogue as CSV")
    p.add_argument("--output")
    p.set_defaults(func=cmd_indicators)

    p = sub.add_parser("validate", help="check a data file and summarise it")
    p.add_argument("file")
    p.add_argument(
        "--format", choices=["auto", "canonical", "fingertips", "mapped"], default="auto"
    )
    p.add_argument(
        "--map",
        action="append",
        metavar="TARGET=COLUMN",
        help="column mapping, e.g. --map area=CCG --map period=fixed:2016/17 Q1",
    )
    p.add_argument("--sheet")
    p.add_argument("--rejected", metavar="FILE", help="write the rejected rows to FILE")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("ci", help="add 95%% and 99.8%% confidence intervals")
    p.add_argument("file")
    p.add_argument("--numerator", required=True)
    p.add_argument("--denominator", required=True)
    p.add_argument("--method", choices=["wilson", "poisson"], default="wilson")
    p.add_argument("--confidence", nargs="+", type=_percent, default=[0.95, 0.998])
    p.add_argument("--multiplier", type=float, default=1.0)
    p.add_argument("--output")
    p.set_defaults(func=cmd_ci)

    p = sub.add_parser("funnel", help="funnel-plot z-scores, limits and outliers per area")
    p.add_argument("file")
    p.add_argument("--area", required=True)
    p.add_argument("--numerator", required=True)
    p.add_argument("--denominator", required=True)
    p.add_argument(
        "--type", choices=["proportion", "ratio", "ratio-of-counts"], default="proportion"
    )
    p.add_argument("--sr-method", choices=["shmi", "cqc", "SHMI", "CQC"], default="shmi")
    p.add_argument("--limit", choices=["95", "99.8"], default="99.8")
    p.add_argument("--no-adjust", action="store_true")
    p.add_argument("--trim", type=float, default=0.1)
    p.add_argument("--no-shmi-rounding", action="store_true")
    p.add_argument("--output")
    p.set_defaults(func=cmd_funnel)

    p = sub.add_parser("spc", help="XmR (Making Data Count) points per series")
    p.add_argument("file")
    p.add_argument("--series", required=True)
    p.add_argument("--period", required=True)
    p.add_argument("--value", required=True)
    p.add_argument("--improvement", choices=["increase", "decrease", "neutral"], default="increase")
    p.add_argument(
        "--rebase",
        nargs="+",
        metavar="PERIOD",
        help="recalculate the limits from these periods on (dates with the year, e.g. 2020-04-01)",
    )
    p.add_argument("--fix-after", type=int)
    p.add_argument("--target", type=float)
    p.add_argument("--no-screen", action="store_true")
    p.add_argument("--rules", choices=["2019", "2023"], default="2019")
    p.add_argument("--summary", metavar="FILE")
    p.add_argument("--output")
    p.set_defaults(func=cmd_spc)

    p = sub.add_parser("trend", help="Mann-Kendall, Theil-Sen and Fingertips recent trend")
    p.add_argument("file")
    p.add_argument("--series", required=True)
    p.add_argument("--period", required=True)
    p.add_argument("--value")
    p.add_argument("--numerator")
    p.add_argument("--denominator")
    p.add_argument("--polarity", choices=list(catalogue.POLARITIES), default="no_judgement")
    p.add_argument("--output")
    p.set_defaults(func=cmd_trend)

    p = sub.add_parser("demo", help="write example upload files derived from the demo data")
    p.add_argument("directory")
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except BrokenPipeError:
        return 0
    except Exception:  # an unexpected error is a bug: keep its traceback, show an id
        error_id = uuid.uuid4().hex[:8]
        # Not log.exception: with logging unconfigured, Python's last-resort handler prints the
        # traceback on stderr, which the CLI promises never to show; DEBUG logging still gets it.
        log.debug("internal error %s", error_id, exc_info=True)
        where = Path(tempfile.gettempdir()) / f"iaf-error-{error_id}.txt"
        try:
            where.write_text(traceback.format_exc(), encoding="utf-8")
            detail = f"; details in {where}"
        except OSError:
            detail = ""
        print(f"internal error (id {error_id}{detail}); please report it", file=sys.stderr)
        return EXIT_INTERNAL
