"""The command line, ``python -m iaf``: what a pipeline sees.

Run in-process through :func:`iaf.cli.main` (fast) with one real ``python -m iaf`` subprocess
for the entry point. Each command is checked three ways: golden values from the reference
packages' own output (../shared/oracles, see its README for versions and commits), the same
numbers as calling ``iaf.stats`` directly (one implementation behind CLI, module and app), and
bad input ending in a sentence and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from iaf import cli, demo
from iaf.stats import ci, funnel, spc, trend
from tests.bad_inputs.make_corpus import CASES, Case, build

TOL = 1e-9
EXIT_BAD_INPUT = 2  # InputError; argparse usage errors use the same code
EXIT_REJECTED_ROWS = 1  # validate: the file was read but some rows were rejected


def run(capsys: pytest.CaptureFixture[str], *argv: object) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of ``python -m iaf *argv``, in-process."""
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def read(text: str) -> pd.DataFrame:
    return pd.read_csv(io.StringIO(text))


def ok(capsys: pytest.CaptureFixture[str], *argv: object) -> pd.DataFrame:
    code, out, err = run(capsys, *argv)
    assert (code, err) == (0, ""), err
    return read(out)


def assert_close(got: pd.Series | np.ndarray, want: pd.Series | np.ndarray, what: str) -> None:
    """Same NaN pattern, finite values within TOL (absolute)."""
    got, want = np.asarray(got, dtype=float), np.asarray(want, dtype=float)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=what)
    finite = ~np.isnan(want)
    np.testing.assert_allclose(got[finite], want[finite], rtol=0, atol=TOL, err_msg=what)


def labels(column: pd.Series) -> list[str]:
    """Text cells as read back from CSV, blank (NaN) as ""."""
    return column.astype(object).where(column.notna(), "").astype(str).tolist()


@pytest.fixture(scope="module")
def examples(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    paths = demo.write_examples(tmp_path_factory.mktemp("examples"))
    return {p.name: p for p in paths}


# ── indicators ───────────────────────────────────────────────────────────────────────────
# The 57 indicators of the CCG Improvement and Assessment Framework 2016/17 (NHS England,
# technical annex), by code.
IAF_CODES = [
    "101a", "102a", "103a", "103b", "104a", "105a", "105b", "105c", "105d", "106a", "107a", "107b",
    "108a", "121a", "122a", "122b", "122c", "122d", "123a", "123b", "123c", "123d", "123e", "124a",
    "124b", "125a", "125b", "125c", "126a", "126b", "127a", "127b", "127c", "127d", "127e", "127f",
    "128a", "128b", "128c", "128d", "129a", "130a", "131a", "141a", "141b", "142a", "142b", "143a",
    "144a", "144b", "145a", "161a", "162a", "163a", "163b", "164a", "165a",
]  # fmt: skip


def test_indicators_prints_the_catalogue(capsys: pytest.CaptureFixture[str]) -> None:
    got = ok(capsys, "indicators")
    assert list(got.columns[:8]) == [
        "code", "name", "domain", "area", "clinical_priority", "value_type", "polarity",
        "frequency",
    ]  # fmt: skip
    assert len(IAF_CODES) == 57
    assert got["code"].tolist() == IAF_CODES
    assert got["name"].notna().all()
    assert set(got["polarity"]) <= {"higher_is_better", "lower_is_better", "no_judgement"}


# ── validate ─────────────────────────────────────────────────────────────────────────────
def summary_line(path: Path, rows, areas, periods, indicators, suppressed, rejected) -> str:
    return (
        f"{path}: rows {rows}, areas {areas}, periods {periods}, indicators {indicators}, "
        f"suppressed {suppressed}, rejected {rejected}\n"
    )


def test_validate_canonical_example(capsys, examples) -> None:
    path = examples["demo_canonical_123a.csv"]
    raw = pd.read_csv(path)
    code, out, err = run(capsys, "validate", path)
    assert (code, err) == (0, "")
    assert out == summary_line(
        path, len(raw), raw["area_code"].nunique(), raw["period"].nunique(),
        raw["indicator"].nunique(), int(raw["numerator"].isna().sum()), 0,
    )  # fmt: skip


def test_validate_fingertips_example_sets_england_aside(capsys, examples) -> None:
    path = examples["demo_fingertips_127c_123b.csv"]
    raw = pd.read_csv(path, dtype={"Indicator ID": str})
    england = raw["Area Type"] == "England"
    ccgs = raw.loc[~england]
    code, out, err = run(capsys, "validate", path, "--format", "fingertips")
    assert code == 0
    n_suppressed = int(ccgs["Value"].isna().sum())
    assert n_suppressed > 0  # the example carries Fingertips' blank suppressed values
    assert out == summary_line(
        path, len(ccgs), ccgs["Area Code"].nunique(), ccgs["Time period"].nunique(),
        ccgs["Indicator ID"].nunique(), n_suppressed, int(england.sum()),
    )  # fmt: skip
    assert err.splitlines() == [
        f"warning: {path.name}: {int(england.sum())} rows for other area types (England) were "
        "set aside; the CCGs (fictional demo areas) rows are loaded",
        f"warning: {n_suppressed} rows are suppressed or missing: kept and shown as suppressed, "
        "never 0",
    ]


def test_validate_mapped_example_with_map(capsys, examples) -> None:
    path = examples["demo_mapped_101a.csv"]
    raw = pd.read_csv(path)
    cols = demo.MAPPED_COLUMNS
    # `area=` as the spec and --help write it (the loader's target is area_code).
    maps = ["area=" + cols["area_code"]] + [
        f"{t}={cols[t]}" for t in ("indicator", "period", "numerator", "denominator", "value")
    ]
    argv = ["validate", path, *[a for m in maps for a in ("--map", m)]]
    code, out, err = run(capsys, *argv)
    assert (code, err) == (0, "")
    assert out == summary_line(
        path, len(raw), raw[cols["area_code"]].nunique(), raw[cols["period"]].nunique(),
        raw[cols["indicator"]].nunique(), int(raw[cols["numerator"]].isna().sum()), 0,
    )  # fmt: skip
    # Without the mapping the layout is not recognised: a sentence naming the columns.
    code, out, err = run(capsys, "validate", path)
    assert (code, out) == (EXIT_BAD_INPUT, "")
    assert err.startswith(f"error: {path.name}: columns not recognised as the canonical")
    assert "'Org Code', 'Measure', 'Reporting Period'" in err


def test_validate_real_iapt_file(capsys, real_dir: Path) -> None:
    # Mapping as tests/test_loaders.py IAPT_MAPPING (NHS Digital IAPT, CCG16, 2016/17 Q1).
    path = real_dir / "indicators" / "iapt_reliable_improvement_ccg16.csv"
    raw = pd.read_csv(path)
    code, out, err = run(
        capsys, "validate", path, "--map", "area=Area Code", "--map", "numerator=Count",
        "--map", "denominator=Denominator", "--map", "period=fixed:2016/17 Q1",
        "--map", "indicator=fixed:123a", "--map", "area_name=Area Name",
    )  # fmt: skip
    assert (code, err) == (0, "")
    assert out == summary_line(path, len(raw), raw["Area Code"].nunique(), 1, 1, 0, 0)
    assert len(raw) == 209


def test_validate_real_eip_file_counts_suppressed(capsys, real_dir: Path) -> None:
    # EIP waiting times, June 2017: CCGs with 0 of 0 patients load as missing, never 0%.
    path = real_dir / "indicators" / "eip_waiting_times_ccg_2017.csv"
    raw = pd.read_csv(path)
    code, out, _ = run(
        capsys, "validate", path, "--map", "area=CCG Code", "--map", "numerator=0 to 2",
        "--map", "denominator=Total", "--map", "period=fixed:2017-06",
        "--map", "indicator=fixed:123b",
    )  # fmt: skip
    assert code == 0
    n_zero = int((raw["Total"] == 0).sum())
    assert n_zero == 22
    assert out == summary_line(path, len(raw), raw["CCG Code"].nunique(), 1, 1, n_zero, 0)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return build(tmp_path_factory.mktemp("bad_inputs"))


def _validate_argv(case: Case, path: Path) -> list[object]:
    argv: list[object] = ["validate", path]
    for target, column in case.kwargs.get("mapping", {}).items():
        argv += ["--map", f"{target}={column}"]
    if "sheet" in case.kwargs:
        argv += ["--sheet", case.kwargs["sheet"]]
    return argv


# Hostile files the CLI can express (the rest need load_values options it does not expose).
CLI_CASES = [c for c in CASES if c.call == "values" and set(c.kwargs) <= {"mapping", "sheet"}]
FILE_ERRORS = [c for c in CLI_CASES if c.error is not None]
ROW_REJECTIONS = [c for c in CLI_CASES if c.error is None and c.rejected]


@pytest.mark.parametrize("case", FILE_ERRORS, ids=[c.id for c in FILE_ERRORS])
def test_validate_bad_file_exact_message(capsys, corpus, case: Case) -> None:
    code, out, err = run(capsys, *_validate_argv(case, corpus[case.id]))
    assert (code, out, err) == (EXIT_BAD_INPUT, "", f"error: {case.error}\n")


@pytest.mark.parametrize("case", ROW_REJECTIONS, ids=[c.id for c in ROW_REJECTIONS])
def test_validate_rejected_rows(capsys, corpus, case: Case, tmp_path: Path) -> None:
    path = corpus[case.id]
    rejected = tmp_path / "rejected.csv"
    code, out, err = run(capsys, *_validate_argv(case, path), "--rejected", rejected)
    assert code == EXIT_REJECTED_ROWS
    assert out.startswith(f"{path}: rows {case.n_loaded}, ")
    assert out.endswith(f", rejected {len(case.rejected)}\n")
    assert read(rejected.read_text())["reason"].tolist() == list(case.rejected)
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(errors) == len(set(case.rejected))


@pytest.mark.parametrize(
    ("case_id", "message"),
    [
        ("text_in_numbers", "error: text where a number belongs in column numerator in 1 row: "
                            "row 2 00C 123a 2016/17 Q1"),
        ("numerator_over_denominator", "error: numerator exceeds denominator in 1 row: row 2 "
                                       "00C 123a 2016/17 Q1"),
        ("nan_and_inf", "error: infinite number in column denominator in 1 row: row 3 00D "
                        "123a 2016/17 Q1"),
        ("duplicate_keys", "error: duplicate area, indicator and period (the first was kept) "
                           "in 1 row: row 3 00C 123a 2016/17 Q1"),
    ],
)  # fmt: skip
def test_validate_names_the_row(capsys, corpus, case_id: str, message: str) -> None:
    code, _, err = run(capsys, "validate", corpus[case_id])
    assert code == EXIT_REJECTED_ROWS
    assert message in err.splitlines()


# ── ci ───────────────────────────────────────────────────────────────────────────────────
BOTH = {"lower95_0cl": "lower_95", "upper95_0cl": "upper_95", "lower99_8cl": "lower_998",
        "upper99_8cl": "upper_998"}  # fmt: skip
# (oracle file, exact R call recorded in its `call` column, our options, its columns → ours)
CI_CALLS = [
    ("phe_proportion_wilson.csv",
     "phe_proportion(x, n, confidence = c(0.95, 0.998), multiplier = 1)",
     ["--method", "wilson", "--confidence", "95", "99.8"], BOTH),
    ("phe_proportion_wilson.csv", "phe_proportion(x, n, confidence = 0.95, multiplier = 100)",
     ["--confidence", "95", "--multiplier", "100"], {"lowercl": "lower_95", "uppercl": "upper_95"}),
    ("phe_proportion_wilson.csv", "phe_proportion(x, n, confidence = 0.90, multiplier = 1)",
     ["--confidence", "90"], {"lowercl": "lower_90", "uppercl": "upper_90"}),
    ("phe_rate_byars.csv", "phe_rate(x, n, confidence = c(0.95, 0.998), multiplier = 100000)",
     ["--method", "poisson", "--multiplier", "100000"], BOTH),
    ("phe_rate_byars.csv",
     "phe_rate(x, n = 1, confidence = c(0.95, 0.998), multiplier = 1)  # CI of a count",
     ["--method", "poisson"], BOTH),
    ("phe_rate_byars.csv", "phe_rate(x, n, confidence = 0.95, multiplier = 1000)",
     ["--method", "poisson", "--confidence", "95", "--multiplier", "1000"],
     {"lowercl": "lower_95", "uppercl": "upper_95"}),
]  # fmt: skip


@pytest.mark.parametrize(("file", "call", "options", "columns"), CI_CALLS,
                         ids=[f"{f[4:-4]}-{i}" for i, (f, *_) in enumerate(CI_CALLS)])  # fmt: skip
def test_ci_golden_phe(capsys, oracles_dir, tmp_path, file, call, options, columns) -> None:
    # PHEindicatormethods 2.1.0 — ../shared/oracles/<file>, rows whose `call` is <call>.
    expected = pd.read_csv(oracles_dir / file).query("call == @call").reset_index(drop=True)
    assert len(expected) > 10
    data = tmp_path / "in.csv"
    expected[["case", "x", "n"]].rename(columns={"x": "events", "n": "people"}).to_csv(
        data, index=False
    )
    got = ok(capsys, "ci", data, "--numerator", "events", "--denominator", "people", *options)
    assert got["case"].tolist() == expected["case"].tolist()  # input columns kept, in order
    assert [c for c in got.columns if c.startswith(("lower_", "upper_"))] == list(columns.values())
    for theirs, ours in columns.items():
        assert_close(got[ours], expected[theirs], ours)
    assert got["ci_method"].tolist() == expected["method"].tolist()


def test_ci_equals_module(capsys, examples) -> None:
    path = examples["demo_canonical_123a.csv"]
    got = ok(capsys, "ci", path, "--numerator", "numerator", "--denominator", "denominator",
             "--multiplier", "100")  # fmt: skip
    raw = pd.read_csv(path)
    want = ci.indicator_cis(raw["numerator"], raw["denominator"], "proportion", multiplier=100)
    for col in ("lower_95", "upper_95", "lower_998", "upper_998"):
        np.testing.assert_array_equal(got[col].to_numpy(), want[col].to_numpy(), err_msg=col)
    assert got["ci_method"].tolist() == want["method"].tolist()
    pd.testing.assert_frame_equal(got[raw.columns], raw)


# ── funnel ───────────────────────────────────────────────────────────────────────────────
# call_id → our options for the exact R call in ../shared/oracles/funnel_summary.csv (`call`).
# FunnelPlotR's limit = 99 is the 99.8% limit. PR_multiplier100 is left out: the funnel command
# has no --multiplier.
FUNNEL_CALLS = {
    "PR_default": ["--type", "proportion"],  # funnel_plot(pr, num, den, unit, data_type = "PR")
    "PR_limit95": ["--type", "proportion", "--limit", "95"],
    "PR_unadjusted95": ["--type", "proportion", "--limit", "95", "--no-adjust"],
    "PR_unadjusted99": ["--type", "proportion", "--limit", "99.8", "--no-adjust"],
    "PR_trim5pct": ["--type", "proportion", "--trim", "0.05"],
    "PR_no_overdisp": ["--type", "proportion"],
    "SR_SHMI_default": ["--type", "ratio"],  # funnel_plot(sr, obs, exp, unit)
    "SR_SHMI_limit95": ["--type", "ratio", "--limit", "95"],
    "SR_SHMI_norounding": ["--type", "ratio", "--no-shmi-rounding"],
    "SR_CQC": ["--type", "ratio", "--sr-method", "cqc"],
    "SR_unadjusted95": ["--type", "ratio", "--limit", "95", "--no-adjust"],
    "SR_unadjusted99": ["--type", "ratio", "--no-adjust"],
    "SR_SHMI_od": ["--type", "ratio"],
    "SR_SHMI_od_95": ["--type", "ratio", "--limit", "95"],
    "SR_CQC_od": ["--type", "ratio", "--sr-method", "cqc"],
    "SR_od_unadjusted99": ["--type", "ratio", "--no-adjust"],
    "RC_od": ["--type", "ratio-of-counts"],
    "RC_default": ["--type", "ratio-of-counts"],
    "RC_unadjusted95": ["--type", "ratio-of-counts", "--limit", "95", "--no-adjust"],
}
LIMITS = ["lower_95", "upper_95", "lower_998", "upper_998"]


@pytest.fixture(scope="module")
def funnel_oracle(oracles_dir: Path) -> dict[str, pd.DataFrame]:
    return {
        n: pd.read_csv(oracles_dir / f"funnel_{n}.csv") for n in ("inputs", "points", "summary")
    }


def test_funnel_calls_cover_the_oracle(funnel_oracle) -> None:
    assert set(funnel_oracle["summary"]["call_id"]) - set(FUNNEL_CALLS) == {"PR_multiplier100"}


@pytest.mark.parametrize("call_id", list(FUNNEL_CALLS))
def test_funnel_golden_funnelplotr(capsys, funnel_oracle, tmp_path, call_id: str) -> None:
    # FunnelPlotR 0.6.0 funnel_plot(...) — ../shared/oracles/funnel_points.csv and
    # funnel_summary.csv, call <call_id> (exact R call in the summary's `call` column).
    summary = funnel_oracle["summary"].set_index("call_id").loc[call_id]
    inputs = funnel_oracle["inputs"].query("dataset == @summary.dataset")
    want = funnel_oracle["points"].query("call_id == @call_id").reset_index(drop=True)
    data = tmp_path / "in.csv"
    inputs.rename(columns={"unit": "Trust", "numerator": "obs", "denominator": "exp"}).to_csv(
        data, index=False
    )
    got = ok(capsys, "funnel", data, "--area", "Trust", "--numerator", "obs",
             "--denominator", "exp", *FUNNEL_CALLS[call_id])  # fmt: skip
    assert list(got.columns) == [
        "area", "numerator", "denominator", "value", "z", "z_winsorised", *LIMITS, "outlier",
        "phi", "tau2", "adjusted",
    ]  # fmt: skip
    # one row per unit; the pr data set lists one unit twice and FunnelPlotR sums it
    assert got["area"].tolist() == want["group"].tolist()
    assert len(got) == 20
    same = {"numerator": "numerator", "denominator": "denominator", "value": "rr", "z": "Uzscore",
            "z_winsorised": "Wuzscore"}  # fmt: skip
    for ours, theirs in same.items():
        assert_close(got[ours], want[theirs], ours)
    adjusted = bool(summary["draw_adjusted"])
    assert got["adjusted"].tolist() == [adjusted] * 20
    assert_close(got["phi"], np.full(20, summary["phi"]), "phi")
    assert_close(got["tau2"], np.full(20, summary["tau2"]), "tau2")

    prefix = "OD" if adjusted else ""
    theirs = {
        "lower_95": want[f"{prefix}95LCL" if adjusted else "LCL95"],
        "upper_95": want[f"{prefix}95UCL" if adjusted else "UCL95"],
        "lower_998": want[f"{prefix}99LCL" if adjusted else "LCL99"],
        "upper_998": want[f"{prefix}99UCL" if adjusted else "UCL99"],
    }
    flagged = want["outlier"].astype(bool)
    high = want["Y"] > want["target_transformed"]
    if call_id == "SR_CQC_od":
        # FunnelPlotR leaves CQC adjusted limits on the square-root scale (its issue #33); ours
        # are back-transformed: (max(0, 1 − z·sd))² and (1 + z·sd)², i.e. its limits squared.
        theirs = {k: np.maximum(v, 0) ** 2 for k, v in theirs.items()}
        value = want["rr"]
        flagged = (value > theirs["upper_998"]) | (value < theirs["lower_998"])
        high = value > 1
    for col in LIMITS:
        assert_close(got[col], theirs[col], col)
    expected_flags = np.where(flagged, np.where(high, "high", "low"), "")
    assert labels(got["outlier"]) == expected_flags.tolist()
    assert int(flagged.sum()) == (summary["n_outliers"] if call_id != "SR_CQC_od" else 0)


def test_funnel_equals_module(capsys, examples, tmp_path) -> None:
    raw = pd.read_csv(examples["demo_canonical_123a.csv"]).query("period == '2017/18 Q4'")
    data = tmp_path / "q4.csv"
    raw.to_csv(data, index=False)
    got = ok(capsys, "funnel", data, "--area", "area_code", "--numerator", "numerator",
             "--denominator", "denominator", "--limit", "95")  # fmt: skip
    res = funnel.funnel(raw["numerator"], raw["denominator"], "PR", groups=raw["area_code"],
                        limit=95)  # fmt: skip
    p = res.points
    assert got["area"].tolist() == p["group"].tolist()
    for col in ["numerator", "denominator", "value", "z", "z_winsorised", *LIMITS]:
        np.testing.assert_array_equal(got[col].to_numpy(float), p[col].to_numpy(float), col)
    assert labels(got["outlier"]) == p["outlier"].tolist()
    assert (got["phi"] == res.phi).all() and (got["tau2"] == res.tau2).all()
    assert (got["adjusted"] == res.adjusted).all()
    assert (got["outlier"].notna()).any()  # the comparison covers flagged areas too


# ── spc ──────────────────────────────────────────────────────────────────────────────────
SPC_SERIES_TARGETS = {"stable": 45, "shift_up": 55, "trend_up": 60, "constant": 50,
                      "single_outlier_high": 50, "proportion_like": 0.6}  # fmt: skip
# (call_id, series or None for all, our options) for the exact calls in ptd_xmr_calls.csv.
# G/H give a target per series (ptd_target(...)); --target takes one, so those run per series.
SPC_RUNS = [
    ("A_increase", None, ["--improvement", "increase"]),
    ("B_decrease", None, ["--improvement", "decrease"]),
    ("C_neutral", None, ["--improvement", "neutral"]),
    ("D_no_screening", None, ["--no-screen"]),
    ("E_rebase_month13", None, ["--rebase", "2021-01-01"]),
    ("F_fix_after_12", None, ["--fix-after", "12"]),
    ("I_short_series", None, ["--target", "11"]),
    ("J_missing_value", None, []),
    *[("G_target_inc", s, ["--improvement", "increase", "--target", str(t)])
      for s, t in SPC_SERIES_TARGETS.items()],
    *[("H_target_dec", s, ["--improvement", "decrease", "--target", str(t)])
      for s, t in SPC_SERIES_TARGETS.items()],
]  # fmt: skip


@pytest.fixture(scope="module")
def ptd(oracles_dir: Path) -> dict[str, pd.DataFrame]:
    return {n: pd.read_csv(oracles_dir / f"ptd_xmr_{n}.csv") for n in ("points", "summary")}


def test_spc_runs_cover_the_oracle(ptd) -> None:
    assert {r[0] for r in SPC_RUNS} == set(ptd["summary"]["call_id"])


@pytest.mark.parametrize(("call_id", "series", "options"), SPC_RUNS,
                         ids=[f"{c}-{s or 'all'}" for c, s, _ in SPC_RUNS])  # fmt: skip
def test_spc_golden_nhsrplotthedots(capsys, ptd, tmp_path, call_id, series, options) -> None:
    # NHSRplotthedots 0.2.2 ptd_spc(...) and summary() — ../shared/oracles/ptd_xmr_points.csv,
    # ptd_xmr_summary.csv, call <call_id> (exact call in ptd_xmr_calls.csv).
    want = ptd["points"].query("call_id == @call_id")
    want_summary = ptd["summary"].query("call_id == @call_id")
    if series is not None:
        want = want.query("series == @series")
        want_summary = want_summary.query("series == @series")
    want, want_summary = want.reset_index(drop=True), want_summary.reset_index(drop=True)
    data = tmp_path / "in.csv"
    # shuffled, under other names: the command finds the columns and sorts the periods itself
    want[["series", "date", "value"]].sample(frac=1, random_state=1).rename(
        columns={"series": "ward", "date": "month", "value": "falls"}
    ).to_csv(data, index=False)
    summary_file = tmp_path / "summary.csv"
    got = ok(capsys, "spc", data, "--series", "ward", "--period", "month", "--value", "falls",
             "--summary", summary_file, *options)  # fmt: skip
    assert list(got.columns) == ["series", "period", "value", "mean", "lpl", "upl",
                                 "special_cause_type", "point_type"]  # fmt: skip
    assert got["series"].tolist() == want["series"].tolist()
    assert got["period"].tolist() == want["date"].tolist()
    for col in ("value", "mean", "lpl", "upl"):
        assert_close(got[col], want[col], col)
    assert got["special_cause_type"].tolist() == want["special_cause_type"].tolist()
    assert got["point_type"].tolist() == want["point_type"].tolist()

    s = pd.read_csv(summary_file)
    assert s["series"].tolist() == want_summary["series"].tolist()
    assert s["rebase_group"].tolist() == want_summary["rebase_group"].tolist()
    for col in ("mean", "lpl", "upl"):
        assert_close(s[col], want_summary[col], col)
    for col in ("n", "common_cause", "special_cause_improvement", "special_cause_concern"):
        assert s[col].tolist() == want_summary[col].tolist(), col
    assert labels(s["variation_icon"]) == labels(want_summary["variation_type_last_point"])
    assert labels(s["assurance_icon"]) == labels(want_summary["assurance_type"])


def test_spc_equals_module_on_quarterly_periods(capsys, examples) -> None:
    # Fiscal quarters are not dates: the command keeps them as sortable text, as the app does.
    path = examples["demo_canonical_123a.csv"]
    got = ok(capsys, "spc", path, "--series", "area_code", "--period", "period",
             "--value", "value", "--improvement", "increase")  # fmt: skip
    raw = pd.read_csv(path)
    want = spc.xmr(raw.rename(columns={"area_code": "series"}).astype({"series": str}),
                   improvement="increase")  # fmt: skip
    assert got["series"].tolist() == want["series"].tolist()
    assert got["period"].tolist() == want["period"].tolist()
    for col in ("value", "mean", "lpl", "upl"):
        np.testing.assert_array_equal(got[col].to_numpy(float), want[col].to_numpy(float), col)
    for col in ("special_cause_type", "point_type"):
        assert got[col].tolist() == want[col].astype(str).tolist(), col
    assert (got["point_type"] != "common_cause").any()


# ── trend ────────────────────────────────────────────────────────────────────────────────
# R ?cor.test example (Hollander & Wolfe 1973, p. 187), cor.test(x, y, method = "kendall"):
# T = 26, p-value = 0.1194, tau 0.4444444 (R's own help page, stats package).
HW_X = [44.4, 45.9, 41.9, 53.3, 44.7, 44.1, 50.7, 45.2, 60.1]
HW_Y = [2.6, 3.1, 2.5, 5.0, 3.6, 4.0, 5.2, 2.8, 3.8]
# Fingertips' TrendMarkerCalculatorTest.cs GetTrendData_Set1 (ukhsa-collaboration/fingertips-open):
# Math.Round(chi², 2) == 47.9 for the proportions, significant, rising.
FT_YEAR = [2018, 2017, 2016, 2015, 2014]
FT_COUNT = [1367, 1332, 1199, 1023, 994]
FT_DENOM = [44701, 44064, 42811, 41527, 40299]


def test_trend_golden_r_kendall(capsys, tmp_path) -> None:
    data = tmp_path / "hw.csv"
    pd.DataFrame({"study": "hw", "x": HW_X, "y": HW_Y}).to_csv(data, index=False)
    got = ok(capsys, "trend", data, "--series", "study", "--period", "x", "--value", "y")
    assert list(got.columns) == ["series", "kendall_tau", "p_value", "theil_sen_slope",
                                 "chi2_trend", "chi2_p_value", "direction"]  # fmt: skip
    row = got.iloc[0]
    assert row["kendall_tau"] == pytest.approx(4 / 9, abs=TOL)
    assert round(row["p_value"], 4) == 0.1194
    # Theil–Sen per period step (periods are ranked: quarters have no numeric spacing);
    # scipy 1.17 theilslopes as the reference.
    order = np.argsort(HW_X)
    ref = stats.theilslopes(np.asarray(HW_Y)[order], np.arange(1, len(HW_X) + 1))
    assert row["theil_sen_slope"] == pytest.approx(ref.slope, abs=TOL)


def test_trend_golden_fingertips_proportions(capsys, tmp_path) -> None:
    data = tmp_path / "ft.csv"
    pd.DataFrame({"s": "set1", "year": FT_YEAR, "count": FT_COUNT, "denom": FT_DENOM}).to_csv(
        data, index=False
    )
    argv = ["trend", data, "--series", "s", "--period", "year", "--numerator", "count",
            "--denominator", "denom"]  # fmt: skip
    row = ok(capsys, *argv, "--polarity", "higher_is_better").iloc[0]
    assert round(row["chi2_trend"], 2) == 47.90
    assert row["chi2_p_value"] == pytest.approx(stats.chi2.sf(row["chi2_trend"], 1), abs=TOL)
    assert row["direction"] == "getting better"
    assert ok(capsys, *argv, "--polarity", "lower_is_better").iloc[0]["direction"] == (
        "getting worse"
    )
    assert ok(capsys, *argv).iloc[0]["direction"] == "increasing"  # no_judgement by default
    # rising every year but 2014 → 2015 (994/40299 > 1023/41527): 9 of 10 pairs concordant
    assert row["kendall_tau"] == pytest.approx((9 - 1) / 10, abs=TOL)


def test_trend_equals_module(capsys, examples, tmp_path) -> None:
    raw = pd.read_csv(examples["demo_canonical_123a.csv"]).query(
        "area_code in ['Z01', 'Z02', 'Z03', 'Z04']"
    )
    data = tmp_path / "in.csv"
    raw.sample(frac=1, random_state=2).to_csv(data, index=False)  # rows out of order
    got = ok(capsys, "trend", data, "--series", "area_code", "--period", "period",
             "--numerator", "numerator", "--denominator", "denominator",
             "--polarity", "higher_is_better")  # fmt: skip
    # The module on the same rows, time = the period's position (2016/17 Q1 → 1, …).
    frame = raw.assign(
        series=raw["area_code"],
        t=raw.groupby("area_code")["period"].rank(method="first"),
        value=raw["numerator"] / raw["denominator"],
    )
    mk = trend.mann_kendall(frame)
    ts = trend.theil_sen(frame)
    recent = trend.fingertips_recent_trend(frame, polarity="higher_is_better")
    assert got["series"].tolist() == mk["series"].tolist() == ["Z01", "Z02", "Z03", "Z04"]
    np.testing.assert_array_equal(got["kendall_tau"], mk["kendall_tau"])
    np.testing.assert_array_equal(got["p_value"], mk["p_value"])
    np.testing.assert_array_equal(got["theil_sen_slope"], ts["slope"])
    np.testing.assert_array_equal(got["chi2_trend"], recent["chi2"])
    np.testing.assert_array_equal(got["chi2_p_value"], recent["p_value"])
    assert got["direction"].tolist() == recent["direction"].tolist()


# ── --output ─────────────────────────────────────────────────────────────────────────────
@pytest.mark.parametrize(
    "argv",
    [
        ["indicators"],
        ["ci", "{canonical}", "--numerator", "numerator", "--denominator", "denominator"],
        ["funnel", "{canonical}", "--area", "area_code", "--numerator", "numerator",
         "--denominator", "denominator"],
        ["spc", "{canonical}", "--series", "area_code", "--period", "period", "--value", "value"],
        ["trend", "{canonical}", "--series", "area_code", "--period", "period", "--value",
         "value"],
    ],
    ids=lambda a: a[0],
)  # fmt: skip
def test_output_file_is_stdout(capsys, examples, tmp_path, argv: list[str]) -> None:
    argv = [a.format(canonical=examples["demo_canonical_123a.csv"]) for a in argv]
    code, stdout, _ = run(capsys, *argv)
    assert code == 0 and len(stdout.splitlines()) > 1
    target = tmp_path / "out.csv"
    code, out, err = run(capsys, *argv, "--output", target)
    assert (code, out, err) == (0, "", "")
    assert target.read_bytes() == stdout.encode()


def test_demo_writes_the_example_files(capsys, examples, tmp_path) -> None:
    code, out, err = run(capsys, "demo", tmp_path / "d")
    assert (code, err) == (0, "")
    written = [Path(line) for line in out.splitlines()]
    assert [p.name for p in written] == list(examples)
    for p in written:
        assert p.read_bytes() == examples[p.name].read_bytes(), p.name


# ── bad input: a sentence, a non-zero exit, never a traceback ────────────────────────────
@pytest.fixture
def small(tmp_path: Path) -> Path:
    path = tmp_path / "small.csv"
    path.write_text("area,num,den\nA,5,10\nB,7,20\nC,3,30\n")
    return path


def test_missing_column_is_named(capsys, small) -> None:
    code, out, err = run(capsys, "ci", small, "--numerator", "events", "--denominator", "den")
    assert (code, out) == (EXIT_BAD_INPUT, "")
    assert err == f"error: {small}: no column named 'events' (columns are: area, num, den)\n"


def test_non_numeric_value_names_the_row(capsys, tmp_path) -> None:
    path = tmp_path / "text.csv"
    path.write_text("area,num,den\nA,5,10\nB,seven,20\nC,3,30\n")
    for argv in (["ci", path], ["funnel", path, "--area", "area"]):
        code, out, err = run(capsys, *argv, "--numerator", "num", "--denominator", "den")
        assert (code, out) == (EXIT_BAD_INPUT, "")
        # row 3 of the file (the header is row 1)
        assert err == f"error: {path}: text where a number belongs in column 'num' (rows 3)\n"


def test_unknown_type_is_a_usage_error(capsys, small) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["funnel", str(small), "--area", "area", "--numerator", "num",
                  "--denominator", "den", "--type", "rate"])  # fmt: skip
    assert exc.value.code == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert "argument --type: invalid choice: 'rate'" in err and "Traceback" not in err


def test_empty_file(capsys, tmp_path) -> None:
    path = tmp_path / "empty.csv"
    path.write_text("")
    for argv in (["ci", path, "--numerator", "n", "--denominator", "d"],
                 ["spc", path, "--series", "s", "--period", "p", "--value", "v"],
                 ["trend", path, "--series", "s", "--period", "p", "--value", "v"]):  # fmt: skip
        code, out, err = run(capsys, *argv)
        assert (code, out) == (EXIT_BAD_INPUT, "")
        assert err == f"error: {path} is empty: it has no header and no rows\n"


def test_ci_names_the_file_rows_of_bad_counts(capsys, tmp_path) -> None:
    # iaf.stats.ci counts positions from 0; the CLI's reader counts file rows (header = row 1).
    path = tmp_path / "neg.csv"
    path.write_text("area,num,den\nA,5,10\nB,-1,10\nC,-2,3\n")
    code, out, err = run(capsys, "ci", path, "--numerator", "num", "--denominator", "den")
    assert (code, out) == (EXIT_BAD_INPUT, "")
    assert err == f"error: {path}: numerator is negative in 2 rows: file rows 3, 4\n"
    path.write_text("area,num,den\nA,15,10\n")
    code, out, err = run(capsys, "ci", path, "--numerator", "num", "--denominator", "den")
    assert err == f"error: {path}: numerator exceeds denominator in 1 row: file row 2\n"


def test_header_only_file_is_refused_by_every_command(capsys, tmp_path) -> None:
    # Before: ci, spc and trend printed a header and exited 0, funnel said "no group has a
    # positive denominator" and validate "has a header but no data rows". Now all say the last.
    path = tmp_path / "header.csv"
    path.write_text("area,p,n,d,s,v\n")
    for argv in (["ci", path, "--numerator", "n", "--denominator", "d"],
                 ["funnel", path, "--area", "area", "--numerator", "n", "--denominator", "d"],
                 ["spc", path, "--series", "s", "--period", "p", "--value", "v"],
                 ["trend", path, "--series", "s", "--period", "p", "--value", "v"],
                 ["validate", path]):  # fmt: skip
        code, out, err = run(capsys, *argv)
        assert (code, out) == (EXIT_BAD_INPUT, ""), argv[0]
        assert err == "error: header.csv has a header but no data rows\n", argv[0]


def test_missing_file(capsys, tmp_path) -> None:
    code, _, err = run(capsys, "ci", tmp_path / "nope.csv", "--numerator", "n",
                       "--denominator", "d")  # fmt: skip
    assert (code, err) == (EXIT_BAD_INPUT, f"error: {tmp_path / 'nope.csv'}: no such file\n")


def test_numerator_over_denominator_names_the_areas(capsys, tmp_path) -> None:
    path = tmp_path / "over.csv"
    path.write_text("area,num,den\nA,5,10\nB,25,20\nC,3,30\n")
    code, _, err = run(capsys, "funnel", path, "--area", "area", "--numerator", "num",
                       "--denominator", "den")  # fmt: skip
    assert code == EXIT_BAD_INPUT
    assert err == "error: numerator exceeds denominator (a proportion above 1) in 1 row(s): B.\n"


def test_bad_confidence_is_a_usage_error(capsys, small) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["ci", str(small), "--numerator", "num", "--denominator", "den",
                  "--confidence", "95%"])  # fmt: skip
    assert exc.value.code == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert "argument --confidence: '95%' is not a percentage such as 95" in err
    code, _, err = run(capsys, "ci", small, "--numerator", "num", "--denominator", "den",
                       "--confidence", "120")  # fmt: skip
    assert code == EXIT_BAD_INPUT and err.startswith("error: confidence must be a level")


def test_bad_rebase_date(capsys, tmp_path) -> None:
    path = tmp_path / "s.csv"
    path.write_text("s,month,v\na,2020-01-01,1\na,2020-02-01,2\na,2020-03-01,3\n")
    code, out, err = run(capsys, "spc", path, "--series", "s", "--period", "month",
                         "--value", "v", "--rebase", "2020-02-01", "2020-13-01")  # fmt: skip
    assert (code, out) == (EXIT_BAD_INPUT, "")
    assert err == (
        "error: --rebase '2020-13-01': not a date, and the periods in column 'month' are dates\n"
    )
    # "Feb" alone would be read as 1 February of the current year: refused, as it has no year.
    code, out, err = run(capsys, "spc", path, "--series", "s", "--period", "month",
                         "--value", "v", "--rebase", "Feb")  # fmt: skip
    assert (code, out) == (EXIT_BAD_INPUT, "")
    assert err.startswith("error: --rebase 'Feb': not a date")
    code, out, _ = run(capsys, "spc", path, "--series", "s", "--period", "month",
                       "--value", "v", "--rebase", "Feb 2020")  # fmt: skip
    assert code == 0 and out


def test_trend_repeated_period_is_rejected(capsys, tmp_path) -> None:
    # Before: the two 2020-01 rows became two consecutive time points, silently.
    path = tmp_path / "dup.csv"
    path.write_text("s,month,v\na,2020-01,1\na,2020-01,2\na,2020-03,3\nb,2020-01,1\n")
    code, out, err = run(capsys, "trend", path, "--series", "s", "--period", "month",
                         "--value", "v")  # fmt: skip
    assert (code, out) == (EXIT_BAD_INPUT, "")
    assert err == (
        f"error: {path}: a period repeats within a series (columns 's', 'month') in rows 2, 3\n"
    )


def test_internal_error_shows_an_id_not_a_traceback(capsys, monkeypatch, small) -> None:
    def boom(args):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(cli, "cmd_ci", boom)
    code, out, err = run(capsys, "ci", small, "--numerator", "num", "--denominator", "den")
    assert (code, out) == (cli.EXIT_INTERNAL, "")
    assert err.startswith("internal error (id ") and err.endswith("please report it\n")
    details = Path(err.split("details in ")[1].split(")")[0])
    assert "ZeroDivisionError: a bug" in details.read_text()
    details.unlink()


def test_entry_point_subprocess(tmp_path) -> None:
    # The real `python -m iaf`: exit status and stderr as a shell or pipeline sees them.
    path = tmp_path / "bad.csv"
    path.write_text("area,num,den\nA,5,10\nB,n/k,20\n")
    proc = subprocess.run(
        [sys.executable, "-m", "iaf", "ci", str(path), "--numerator", "num", "--denominator",
         "den"],
        capture_output=True, text=True, timeout=60, cwd=Path(cli.__file__).parents[1],
    )  # fmt: skip
    assert proc.returncode == EXIT_BAD_INPUT
    assert proc.stdout == ""
    assert "Traceback" not in proc.stderr
    assert proc.stderr == f"error: {path}: text where a number belongs in column 'num' (rows 3)\n"
