"""Property tests: hostile files into the loaders, random inputs into the statistics.

The loaders may refuse a file only with :class:`iaf.errors.InputError`; whatever they accept is
valid (no infinite numbers, values inside their own confidence intervals, suppressed rows never
shown as 0, proportions within 0–100%, every row loaded or rejected). The statistics keep their
relations for any valid input: lower ≤ value ≤ upper, the 95% interval inside the 99.8% one,
proportion limits within [0, 1], funnel limits nested and widening as the denominator shrinks,
SPC limits ordered around the centre line, Mann–Kendall p-values in [0, 1], and results that do
not depend on the order of the rows or on other series.

The hand-written hostile corpus is in ``tests/test_bad_inputs.py``; small fuzz tests of
``read_table`` and ``load_values`` on arbitrary bytes/text are in ``tests/test_loaders.py``.
Here the inputs are *structured* (a table with the right kind of columns and hostile cells), so
hypothesis reaches validation and the statistics instead of stopping at the CSV parser.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from iaf import catalogue, geo, loaders
from iaf.errors import InputError
from iaf.model import VALUE_COLUMNS
from iaf.stats import benchmark, ci, funnel, spc, trend

FAST = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FEW = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# A load costs ~0.1 s of pandas overhead whatever the file: fewer, richer examples.
LOADS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FEW_LOADS = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
REL = 1e-9  # relative slack for "inside its interval" (the validator's own tolerance)

# ── hostile cells ────────────────────────────────────────────────────────────────────────
BY_TYPE = {}
for _ind in catalogue.CATALOGUE:
    BY_TYPE.setdefault(_ind.value_type, _ind.code)
INDICATOR_CELLS = [*BY_TYPE.values(), "999z", "", " 101a ", "FT90799", "<b>101a</b>"]
AREA_CELLS = ["00C", "00D", "02N", "E38000001", "", " ", "x" * 25, "<script>alert(1)</script>",
              "=HYPERLINK(\"http://x\")", "ÄÖÜ", "\ufeff00C", "00c"]  # fmt: skip
PERIOD_CELLS = ["2016/17 Q1", "2016/17 Q2", "2016/17", "2017-01", "2017/18 q3", "Q5 2016", "",
                "garbage", "2016-13", "1900/01 Q1", "2016/17 Q1 "]  # fmt: skip
NUMBER_CELLS = ["", "*", "c", "..", "x", "-", "n/a", "0", "1", "5", "7", "10", "12.5", "100",
                "250", "1,234", "50%", "-1", "-0", "1e308", "1e400", "-1e400", "inf",
                "-Infinity", "NaN", "nan", "9" * 400, "5e-324", "1e-300", " 7 ", "+3", "１２",
                "٣", "0x10", "1_000", "seven", "\u00a05", "=1+1", "<script>"]  # fmt: skip
NUMBERS = st.one_of(
    st.sampled_from(NUMBER_CELLS),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-(10**30), 10**30).map(str),
    st.integers(0, 2000).map(str),
)
TEXT = st.text(max_size=8)
CANONICAL_NUMERIC = ("numerator", "denominator", "value", "lower_95", "upper_95",
                     "lower_998", "upper_998")  # fmt: skip


def _column_cells(column: str):
    if column == "area_code":
        return st.one_of(st.sampled_from(AREA_CELLS), TEXT)
    if column == "indicator":
        return st.one_of(st.sampled_from(INDICATOR_CELLS), TEXT)
    if column == "period":
        return st.one_of(st.sampled_from(PERIOD_CELLS), TEXT)
    if column in CANONICAL_NUMERIC:
        return NUMBERS
    return st.one_of(TEXT, NUMBERS)


@st.composite
def tables(draw, required: tuple[str, ...], optional: tuple[str, ...]):
    """A header (required columns, some optional ones, random extras, shuffled) and rows."""
    cols = list(required) + [c for c in optional if draw(st.booleans())]
    extras = draw(st.lists(st.text(min_size=1, max_size=6), max_size=2))
    cols += [e for e in extras if e.strip() and e not in cols]
    cols = draw(st.permutations(cols))
    n = draw(st.integers(1, 8))
    rows = [[draw(_column_cells(c)) for c in cols] for _ in range(n)]
    return cols, rows


@st.composite
def encodings(draw):
    """How the file is written: delimiter, BOM/encoding, line ending, quoting."""
    return {
        "delimiter": draw(st.sampled_from(loaders.DELIMITERS)),
        "encoding": draw(st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "cp1252"])),
        "newline": draw(st.sampled_from(["\n", "\r\n"])),
        "quoting": draw(st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL])),
    }


def to_bytes(cols: list[str], rows: list[list[str]], how: dict) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(
        buf, delimiter=how["delimiter"], lineterminator=how["newline"], quoting=how["quoting"]
    )
    writer.writerow(cols)
    writer.writerows(rows)
    text = buf.getvalue()
    if how["encoding"] == "cp1252":
        return text.encode("cp1252", errors="replace")
    # Surrogates (which hypothesis may draw) cannot be written by any real editor.
    return text.encode(how["encoding"], errors="replace")


def check_loaded(result: loaders.LoadResult, extra: tuple = ()) -> None:
    """Everything a successful load promises about its values and report."""
    values, report = result.values, result.report
    assert report.n_loaded + report.n_rejected == report.n_input_rows
    assert len(values) == report.n_loaded
    assert list(values.columns) == list(VALUE_COLUMNS)
    known = {i.code: i for i in catalogue.CATALOGUE} | {i.code: i for i in result.extra_indicators}
    assert set(values["indicator"].astype(str)) <= set(known)
    assert (values["area_code"].astype(str).str.strip() != "").all()
    assert not values.duplicated(["area_code", "indicator", "period"]).any()
    nums = values[list(CANONICAL_NUMERIC)].to_numpy(dtype=float)
    assert not np.isinf(nums).any(), values.loc[np.isinf(nums).any(axis=1)]
    # Suppressed means "no value": never a 0, never a number, and every unsuppressed row has one.
    assert (values["suppressed"] == values["value"].isna()).all()
    assert (values["numerator"].dropna() >= 0).all()
    assert (values["denominator"].dropna() >= 0).all()
    v = values["value"]
    for level in ("95", "998"):
        lo, hi = values[f"lower_{level}"], values[f"upper_{level}"]
        assert not (lo > hi).any()
        slack = REL * v.abs()
        outside = (v < lo - slack) | (v > hi + slack)
        assert not outside.any(), values.loc[
            outside, ["indicator", "value", "lower_95", "upper_95", "numerator", "denominator"]
        ]
    vtype = values["indicator"].astype(str).map({k: i.value_type for k, i in known.items()})
    mult = (
        values["indicator"]
        .astype(str)
        .map({k: i.multiplier for k, i in known.items()})
        .astype(float)
    )
    prop = (vtype == "proportion").to_numpy()
    assert not (v[prop] < 0).any() and not (v[prop] > mult[prop]).any()
    assert not (values["numerator"][prop] > values["denominator"][prop]).any()


# ── loaders: canonical layout ────────────────────────────────────────────────────────────
@LOADS
@given(
    tables(("area_code", "indicator", "period"), (*CANONICAL_NUMERIC, "note", "area_name")),
    encodings(),
)
@example(  # counts and a confidence interval that does not hold the value computed from them
    (["area_code", "indicator", "period", "numerator", "denominator", "lower_95", "upper_95"],
     [["00C", "101a", "2016/17 Q1", "5", "10", "90", "95"]]),
    {"delimiter": ",", "encoding": "utf-8", "newline": "\n", "quoting": csv.QUOTE_MINIMAL},
)  # fmt: skip
@example(  # a value computed from finite counts that overflows to infinity
    (["area_code", "indicator", "period", "numerator", "denominator"],
     [["00C", BY_TYPE["rate"], "2016/17", "1e305", "1"]]),
    {"delimiter": ",", "encoding": "utf-8", "newline": "\n", "quoting": csv.QUOTE_MINIMAL},
)  # fmt: skip
@example(  # a score with counts over a zero denominator
    (["area_code", "indicator", "period", "numerator", "denominator"],
     [["00C", BY_TYPE["score"], "2016/17", "5", "0"]]),
    {"delimiter": ",", "encoding": "utf-8", "newline": "\n", "quoting": csv.QUOTE_MINIMAL},
)  # fmt: skip
def test_canonical_files_load_valid_values_or_raise_input_error(table, how) -> None:
    cols, rows = table
    try:
        result = loaders.load_values(to_bytes(cols, rows, how), name="fuzz.csv")
    except InputError as exc:
        assert str(exc).startswith("fuzz.csv")
        return
    check_loaded(result)


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        (["101a", "5", "10", "90", "95"], "value outside its 95 confidence interval"),
        (["104a", "1e305", "1", "", ""],
         "numerator / denominator is infinite (a zero or tiny denominator, or a huge numerator)"),
        (["106a", "5", "0", "", ""],
         "numerator / denominator is infinite (a zero or tiny denominator, or a huge numerator)"),
        (["101a", "5", "10", "40", "60"], None),
    ],
    ids=["counts-outside-ci", "overflow", "score-over-zero", "counts-inside-ci"],
)  # fmt: skip
def test_a_value_from_counts_is_checked_like_a_value_given(row, reason) -> None:
    """Found by the property above: these rows used to load (value 50 outside [90, 95], inf)."""
    ind, num, den, lo, hi = row
    period = "2016/17 Q1" if catalogue.by_code(ind).frequency == "quarterly" else "2016/17"
    data = (
        "area_code,indicator,period,numerator,denominator,lower_95,upper_95\n"
        f"00C,{ind},{period},{num},{den},{lo},{hi}\n"
    ).encode()
    result = loaders.load_values(data, name="x.csv")
    assert list(result.report.rejected.get("reason", [])) == ([reason] if reason else [])
    assert result.report.n_loaded == (0 if reason else 1)


# ── loaders: Fingertips downloads ────────────────────────────────────────────────────────
FT_OPTIONAL = (
    *(v for v in loaders.FT_COLUMNS.values() if v not in loaders.FT_REQUIRED),
    *("Indicator Name", "Area Type", "Sex", "Age", "Category Type", "Parent Code"),
)


def _ft_cells(column: str):
    mapped = {"Area Code": "area_code", "Time period": "period", "Indicator ID": "indicator"}
    if column in mapped:
        base = _column_cells(mapped[column])
        return st.one_of(base, st.sampled_from(["90799", "92196", "1", ""])) if (
            column == "Indicator ID") else base  # fmt: skip
    if column == "Area Type":
        return st.sampled_from(["CCGs (from Apr 2021)", "England", "Region", ""])
    if column == "Sex":
        return st.sampled_from(["Persons", "Male", "Female", ""])
    if column == "Age":
        return st.sampled_from(["All ages", "18+ yrs", ""])
    if column == "Category Type":
        return st.sampled_from(["", "", "Deprivation deciles"])
    if column in ("Indicator Name", "Area Name", "Value note", "Parent Code"):
        return st.one_of(TEXT, st.sampled_from(["**bold**", "<i>x</i>", "=1+1"]))
    return NUMBERS


@st.composite
def ft_tables(draw):
    cols = list(loaders.FT_REQUIRED) + [c for c in FT_OPTIONAL if draw(st.booleans())]
    cols = draw(st.permutations(cols))
    n = draw(st.integers(1, 8))
    return cols, [[draw(_ft_cells(c)) for c in cols] for _ in range(n)]


@LOADS
@given(ft_tables(), encodings())
def test_fingertips_files_load_valid_values_or_raise_input_error(table, how) -> None:
    cols, rows = table
    try:
        result = loaders.load_values(to_bytes(cols, rows, how), name="ft.csv")
    except InputError as exc:
        assert str(exc).startswith("ft.csv")
        return
    check_loaded(result)
    for ind in result.extra_indicators:
        assert ind.code.startswith("FT") and math.isfinite(ind.multiplier) and ind.multiplier > 0
    if result.areas is not None:
        assert result.areas["code"].is_unique


# ── loaders: column mappings (the Data page's "Map my columns") ─────────────────────────
TARGETS = st.sampled_from([*loaders.MAPPING_TARGETS, "bogus", "source_row", ""])
SPECS = st.one_of(
    st.sampled_from(["a", "b", "c", "A ", "missing", "source_row"]),
    st.builds(lambda v: {"fixed": v}, st.one_of(TEXT, st.sampled_from(["2016/17 Q1", "101a"]))),
    st.just({"fixed": "x", "other": 1}),
    st.integers(),
    st.none(),
)


@FAST
@given(
    st.lists(st.lists(st.one_of(TEXT, NUMBERS, st.sampled_from(AREA_CELLS + PERIOD_CELLS)),
                      min_size=3, max_size=3), min_size=1, max_size=6),
    st.dictionaries(TARGETS, SPECS, max_size=7),
)  # fmt: skip
def test_any_mapping_loads_valid_values_or_raises_input_error(rows, mapping) -> None:
    data = to_bytes(
        ["a", "b", "c"],
        rows,
        {"delimiter": ",", "encoding": "utf-8", "newline": "\n", "quoting": csv.QUOTE_ALL},
    )
    try:
        result = loaders.load_values(data, name="mapped.csv", mapping=mapping)
    except InputError as exc:
        assert str(exc).startswith("mapped.csv")
        return
    check_loaded(result)


# ── loaders: the same table written any way loads the same values ────────────────────────
SAFE = st.text(alphabet=st.characters(codec="cp1252", exclude_characters=',;\t|"\r\n\x00'),
               max_size=6)  # fmt: skip


@FEW_LOADS
@given(
    st.lists(
        st.tuples(st.sampled_from(AREA_CELLS[:4]), st.sampled_from(list(BY_TYPE.values())),
                  st.sampled_from(PERIOD_CELLS[:5]), st.sampled_from(NUMBER_CELLS[:16]),
                  st.sampled_from(NUMBER_CELLS[:16]), SAFE),
        min_size=1, max_size=6),
    encodings(),
)  # fmt: skip
def test_delimiter_bom_encoding_and_line_ends_do_not_change_what_loads(rows, how) -> None:
    cols = ["area_code", "indicator", "period", "numerator", "denominator", "note"]
    plain = {"delimiter": ",", "encoding": "utf-8", "newline": "\n", "quoting": csv.QUOTE_MINIMAL}
    rows = [list(r) for r in rows]
    if how["encoding"] == "cp1252":
        # cp1252 text whose bytes happen to be valid UTF-8 ("Â\xa0" is C2 A0, UTF-8 for a
        # no-break space) is read as UTF-8, as it must be: the bytes alone cannot tell them
        # apart (see test_cp1252_bytes_that_are_valid_utf8_are_read_as_utf8).
        data = to_bytes(cols, rows, how)
        with contextlib.suppress(UnicodeDecodeError):
            assume(data.decode("utf-8") == data.decode("cp1252"))
    try:
        expected = loaders.load_values(to_bytes(cols, rows, plain), name="x.csv")
    except InputError as exc:
        with pytest.raises(InputError) as again:
            loaders.load_values(to_bytes(cols, rows, how), name="x.csv")
        assert str(again.value) == str(exc)
        return
    got = loaders.load_values(to_bytes(cols, rows, how), name="x.csv")
    pd.testing.assert_frame_equal(got.values, expected.values)
    assert list(got.report.rejected["reason"]) == list(expected.report.rejected["reason"])


def test_cp1252_bytes_that_are_valid_utf8_are_read_as_utf8() -> None:
    """Found by the property above: a note "Â" followed by a no-break space, saved as cp1252,
    is the bytes C2 A0, which are also UTF-8 (for a no-break space alone). UTF-8 is tried
    first, so the note loads as blank and no encoding warning is given."""
    text = "area_code,indicator,period,numerator,denominator,note\n00C,101a,2016/17 Q1,,,Â\xa0\n"
    got = loaders.load_values(text.encode("cp1252"), name="x.csv")
    assert got.values["note"].astype(str).tolist() == [""]
    assert not [p for p in got.report.problems if p.kind == "encoding"]
    cp1252_only = text.replace("Â\xa0", "Â").encode("cp1252")  # C2 alone is not UTF-8
    got = loaders.load_values(cp1252_only, name="x.csv")
    assert got.values["note"].astype(str).tolist() == ["Â"]
    assert [p for p in got.report.problems if p.kind == "encoding"]


# ── loaders: area lookups ────────────────────────────────────────────────────────────────
AREA_HEADERS = ["code", "CCG16CD", "CCG16NM", "name", "ons_code", "region", "STP name",
                "population", "similar_ccg_1", "similar_ccg_2", "Area Name", "x"]  # fmt: skip


@FAST
@given(
    st.lists(st.sampled_from(AREA_HEADERS), min_size=1, max_size=5, unique=True),
    st.lists(st.lists(st.one_of(st.sampled_from(AREA_CELLS), NUMBERS, TEXT), min_size=5,
                      max_size=5), min_size=1, max_size=8),
    st.one_of(st.none(), st.dictionaries(st.sampled_from([*loaders.AREA_TARGETS, "bad"]),
                                         st.sampled_from(AREA_HEADERS), max_size=3)),
)  # fmt: skip
def test_area_lookups_load_a_valid_table_or_raise_input_error(header, rows, mapping) -> None:
    rows = [r[: len(header)] for r in rows]
    data = to_bytes(header, rows, {"delimiter": ",", "encoding": "utf-8", "newline": "\n",
                                   "quoting": csv.QUOTE_ALL})  # fmt: skip
    try:
        areas = loaders.load_areas(data, name="areas.csv", mapping=mapping)
    except InputError as exc:
        assert str(exc).startswith("areas.csv")
        return
    assert list(areas.columns[:8]) == ["code", "name", "type", "parent", "region", "stp",
                                       "population", "peers"]  # fmt: skip
    assert areas["code"].is_unique and (areas["code"] != "").all()
    assert areas["name"].notna().all() and (areas["name"].str.strip() != "").all()
    assert pd.api.types.is_numeric_dtype(areas["population"])


# ── geo: boundaries ──────────────────────────────────────────────────────────────────────
JSON_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-1000, 1000),
    st.sampled_from([10**400, -(2**1024)]), st.floats(-200, 200),
    st.text(max_size=5), st.sampled_from(["Polygon", "MultiPolygon", "Feature", "Point"]),
)  # fmt: skip
JSON_ANY = st.recursive(
    JSON_SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.text(max_size=5), inner, max_size=4)),
    max_leaves=20,
)  # fmt: skip


@st.composite
def rings(draw):
    pts = draw(st.lists(st.tuples(st.floats(-180, 180), st.floats(-90, 90)), min_size=3,
                        max_size=6))  # fmt: skip
    ring = [list(p) for p in pts] + [list(pts[0])]
    if draw(st.booleans()):  # break it
        ring = draw(st.sampled_from([ring[:-1], ring[:2], [*ring[:-1], [1e3, 0]],
                                     [*ring[:1], [10**400, 0], *ring[1:]],
                                     [*ring[:1], ["a", 0], *ring[1:]], [*ring[:1], [True, 0],
                                                                        *ring[1:]]]))  # fmt: skip
    return ring


@st.composite
def features(draw):
    kind = draw(st.sampled_from(["Polygon", "MultiPolygon", "Point", None, ["Polygon"], 7]))
    polygon = draw(st.lists(rings(), min_size=1, max_size=2))
    coords = polygon if kind != "MultiPolygon" else [polygon]
    geometry = draw(st.one_of(st.just({"type": kind, "coordinates": coords}), JSON_ANY))
    props = draw(st.one_of(
        st.fixed_dictionaries({"CCG16CD": st.sampled_from([*AREA_CELLS, None, 5]),
                               "CCG16NM": st.one_of(TEXT, st.just("**b**"))}),
        JSON_ANY))  # fmt: skip
    return {"type": draw(st.sampled_from(["Feature", "feature"])), "properties": props,
            "geometry": geometry}  # fmt: skip


@FAST
@given(
    st.one_of(
        st.builds(lambda fs: {"type": "FeatureCollection", "features": fs},
                  st.lists(features(), min_size=1, max_size=3)),
        JSON_ANY,
    ),
    st.one_of(st.none(), st.just(("00C", "00D", "02N"))),
)  # fmt: skip
@example(
    {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"code": "00C"},
                "geometry": {
                    "type": "Polygon",
                    "coordinates": [[[0, 0], [10**400, 0], [1, 1], [0, 0]]],
                },
            }
        ],
    },
    None,
)
@example(
    {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"code": "00C"},
                "geometry": {"type": ["Polygon"], "coordinates": []},
            }
        ],
    },
    None,
)
def test_boundaries_load_valid_geojson_or_raise_input_error(doc, known) -> None:
    data = json.dumps(doc).encode()
    try:
        result = geo.load_boundaries(data, name="b.geojson", known_codes=known)
    except InputError as exc:
        assert str(exc).startswith("b.geojson")
        return
    assert result.n_features == len(doc["features"]) == len(result.geojson["features"])
    assert geo.exterior_clockwise(result.geojson)
    codes = [f["properties"]["code"] for f in result.geojson["features"]]
    assert len(set(codes)) == len(codes) and all(isinstance(c, str) and c for c in codes)
    assert all(isinstance(f["properties"]["name"], str) for f in result.geojson["features"])


# ── confidence intervals ─────────────────────────────────────────────────────────────────
LEVELS = st.floats(0.5, 0.9999)
COUNTS = st.integers(0, 10**7)


@st.composite
def proportions(draw, max_n: int = 10**7):
    n = draw(st.lists(st.integers(1, max_n), min_size=1, max_size=20))
    x = [draw(st.integers(0, k)) for k in n]
    return np.asarray(x, dtype=float), np.asarray(n, dtype=float)


def _ordered(lower, value, upper) -> None:
    lower, value, upper = (np.asarray(a, dtype=float) for a in (lower, value, upper))
    ok = ~np.isnan(lower)
    slack = REL * np.maximum(np.abs(value), 1e-300)
    assert (lower[ok] <= value[ok] + slack[ok]).all(), (lower, value)
    assert (value <= upper + slack).all(), (value, upper)


def _nested(inner: tuple, outer: tuple) -> None:
    (li, ui), (lo, uo) = inner, outer
    ok = ~np.isnan(li) & ~np.isnan(lo)
    # An ulp apart is equal: at x = n the Wilson upper limit is 1 at every level, computed as
    # 1 or 0.9999999999999998 depending on rounding.
    slack = 4 * np.finfo(float).eps * np.maximum(np.abs(uo), 1)
    assert (lo[ok] <= li[ok] + slack[ok]).all() and (ui <= uo + slack).all()
    assert not (np.isnan(li) & ~np.isnan(lo)).any(), "the wider interval lost its lower limit"


@FAST
@given(proportions(), LEVELS, LEVELS)
@example((np.array([0.0]), np.array([1.0])), 0.95, 0.998)
@example((np.array([3.0]), np.array([3.0])), 0.95, 0.998)
def test_wilson_is_ordered_nested_within_0_1_and_elementwise(xn, c1, c2) -> None:
    x, n = xn
    low_c, high_c = sorted((c1, c2))
    lower, upper = ci.wilson_ci(x, n, low_c)
    assert (lower >= 0).all() and (upper <= 1).all()
    _ordered(lower, x / n, upper)
    _nested((lower, upper), ci.wilson_ci(x, n, high_c))
    for i in range(len(x)):
        li, ui = ci.wilson_ci(x[i], n[i], low_c)
        assert li[0] == lower[i] and ui[0] == upper[i]
    both = ci.wilson_ci(x, n, [low_c, high_c])
    # Several levels at once broadcast z against x; SIMD loops may round an ulp differently.
    ulp = 4 * np.finfo(float).eps
    np.testing.assert_allclose(both[0][0], lower, rtol=0, atol=ulp)
    np.testing.assert_allclose(both[1][1], ci.wilson_ci(x, n, high_c)[1], rtol=0, atol=ulp)


@pytest.mark.parametrize("method", ["byars_ci", "exact_poisson_ci", "poisson_ci"])
@FAST
@given(x=st.lists(st.one_of(COUNTS, st.integers(0, 30)), min_size=1, max_size=20), c1=LEVELS,
       c2=LEVELS)  # fmt: skip
def test_poisson_intervals_are_ordered_nested_and_elementwise(method, x, c1, c2) -> None:
    f = getattr(ci, method)
    x = np.asarray(x, dtype=float)
    low_c, high_c = sorted((c1, c2))
    lower, upper = f(x, low_c)
    assert not np.isnan(upper).any()
    assert (lower[~np.isnan(lower)] >= 0).all()
    _ordered(lower, x, upper)
    _nested((lower, upper), f(x, high_c))
    for i in range(len(x)):
        li, ui = f(x[i], low_c)
        np.testing.assert_array_equal([li[0], ui[0]], [lower[i], upper[i]])


@FAST
@given(
    st.lists(st.tuples(st.integers(0, 5000), st.integers(1, 10**6)), min_size=1, max_size=20),
    st.sampled_from(["proportion", "rate", "ratio", "count"]),
    st.sampled_from([1, 100, 1000, 100_000]),
)
def test_indicator_cis_are_ordered_and_nested(pairs, value_type, multiplier) -> None:
    x = np.array([min(a, b) if value_type == "proportion" else a for a, b in pairs], dtype=float)
    n = np.array([b for _, b in pairs], dtype=float)
    out = ci.indicator_cis(x, n, value_type, multiplier)
    _ordered(out["lower_95"], out["value"], out["upper_95"])
    _ordered(out["lower_998"], out["value"], out["upper_998"])
    _nested(
        (out["lower_95"].to_numpy(), out["upper_95"].to_numpy()),
        (out["lower_998"].to_numpy(), out["upper_998"].to_numpy()),
    )
    if value_type == "proportion":
        assert (out["lower_998"] >= 0).all() and (out["upper_998"] <= multiplier).all()


@FEW
@given(
    st.integers(1, 4).flatmap(lambda groups: st.lists(
        st.tuples(st.integers(0, groups - 1), st.integers(0, 400), st.integers(1, 10**5),
                  st.integers(0, 10**4)), min_size=1, max_size=24)),
    LEVELS, LEVELS,
)  # fmt: skip
def test_dobson_dsr_is_ordered_and_nested(rows, c1, c2) -> None:
    g, x, n, std = (np.array(col) for col in zip(*rows, strict=True))
    assume(std.sum() > 0)
    low_c, high_c = sorted((c1, c2))
    assume(ci.confidence_suffix(low_c) != ci.confidence_suffix(high_c))
    out = ci.dsr_dobson(x, n, std, groups=g, confidence=[low_c, high_c])
    s1, s2 = ci.confidence_suffix(low_c), ci.confidence_suffix(high_c)
    shown = out["value"].notna().to_numpy()
    assert (out.loc[~shown, f"lower_{s1}"].isna()).all()
    assert (out["total_count"][shown] >= ci.DSR_MIN_COUNT).all()
    _ordered(out[f"lower_{s1}"][shown], out["value"][shown], out[f"upper_{s1}"][shown])
    _nested(
        (out[f"lower_{s1}"][shown].to_numpy(), out[f"upper_{s1}"][shown].to_numpy()),
        (out[f"lower_{s2}"][shown].to_numpy(), out[f"upper_{s2}"][shown].to_numpy()),
    )


@FAST
@given(
    st.lists(st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-5, 5),
                       st.sampled_from(["", "a", None, "1"])), min_size=1, max_size=6),
    st.lists(st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-5, 5)),
             min_size=1, max_size=6),
    st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([0, 1, 0.95])),
)  # fmt: skip
def test_ci_functions_refuse_bad_input_only_with_input_error(x, n, confidence) -> None:
    calls = [
        lambda: ci.wilson_ci(x, n, confidence),
        lambda: ci.poisson_ci(x, confidence),
        lambda: ci.rate_ci(x, n, confidence),
        lambda: ci.isr_ci(x, n, confidence),
        lambda: ci.mean_ci(x, n, n, confidence),
    ]
    for call in calls:
        try:
            lower, upper = call()
        except InputError:
            continue
        both = ~np.isnan(lower) & ~np.isnan(upper)
        assert (lower[both] <= upper[both]).all()
    try:
        out = ci.indicator_cis(x, n, "proportion", 100, confidence)
    except InputError:
        return
    assert len(out) == len(x)


# ── funnel limits ────────────────────────────────────────────────────────────────────────
@st.composite
def funnel_inputs(draw):
    data_type = draw(st.sampled_from(["PR", "SR", "RC"]))
    n = draw(st.integers(2, 30))
    den = draw(st.lists(st.integers(1, 50_000), min_size=n, max_size=n))
    if data_type == "PR":
        num = [draw(st.integers(0, d)) for d in den]
    elif data_type == "SR":
        num = [draw(st.integers(0, 3 * d)) for d in den]
    else:
        num = draw(st.lists(st.integers(0, 50_000), min_size=n, max_size=n))
    return data_type, np.array(num, float), np.array(den, float)


def _limits_ok(frame: pd.DataFrame, prefix: str = "") -> None:
    lo95, hi95 = frame[f"{prefix}lower_95"], frame[f"{prefix}upper_95"]
    lo998, hi998 = frame[f"{prefix}lower_998"], frame[f"{prefix}upper_998"]
    tol = 1e-12
    assert (lo998 <= lo95 + tol).all() and (hi95 <= hi998 + tol).all(), frame
    assert (lo95 <= frame["target"] + tol).all() and (frame["target"] <= hi95 + tol).all()


@FEW
@given(
    funnel_inputs(), st.booleans(), st.sampled_from(["SHMI", "CQC"]), st.sampled_from([95, 99.8])
)
def test_funnel_limits_nested_and_widen_as_the_denominator_shrinks(inputs, adjust, sr, limit):
    data_type, num, den = inputs
    res = funnel.funnel(num, den, data_type, adjust=adjust, sr_method=sr, limit=limit)
    assert res.phi >= 0 and res.tau2 >= 0  # phi is infinite when an SR funnel has no events
    _limits_ok(res.points)
    grid = res.limits_grid(60).sort_values("denominator")
    for prefix in ("", "unadjusted_", "adjusted_"):
        _limits_ok(grid, prefix)
    tol = 1e-9
    for band in ("95", "998"):
        # Smaller denominator, wider limits: upper never falls and lower never rises as it shrinks.
        assert (np.diff(grid[f"upper_{band}"]) <= tol).all(), grid
        assert (np.diff(grid[f"lower_{band}"]) >= -tol).all(), grid
    # The outlier flag agrees with the limits it was judged against.
    band = "998" if limit == 99.8 else "95"
    high = res.points["value"] > res.points[f"upper_{band}"]
    low = res.points["value"] < res.points[f"lower_{band}"]
    assert (res.points["outlier"] == np.select([high, low], ["high", "low"], "")).all()


@FEW
@given(funnel_inputs(), st.randoms(use_true_random=False))
def test_funnel_by_row_order_does_not_matter(inputs, rnd) -> None:
    data_type, num, den = inputs
    frame = pd.DataFrame({"area_code": [f"A{i:02d}" for i in range(len(num))],
                          "ind": "i", "numerator": num, "denominator": den})  # fmt: skip
    order = list(range(len(frame)))
    rnd.shuffle(order)
    a, sa = funnel.funnel_by(frame, ["ind"], data_type=data_type)
    b, sb = funnel.funnel_by(frame.iloc[order], ["ind"], data_type=data_type)
    pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True))
    pd.testing.assert_frame_equal(sa.reset_index(drop=True), sb.reset_index(drop=True))


# ── benchmarking ─────────────────────────────────────────────────────────────────────────
@FAST
@given(proportions(max_n=5000), st.floats(0, 1))
def test_benchmark_category_agrees_with_the_interval_and_the_level(xn, bench) -> None:
    x, n = xn
    lo95, hi95 = ci.wilson_ci(x, n, 0.95)
    lo998, hi998 = ci.wilson_ci(x, n, 0.998)
    at95 = benchmark.compare_with_benchmark(lo95, hi95, bench, "higher_is_better")
    at998 = benchmark.compare_with_benchmark(lo998, hi998, bench, "higher_is_better")
    assert ((at95 == "better") == (lo95 > bench)).all()
    assert ((at95 == "worse") == (hi95 < bench)).all()
    # Significant at 99.8% implies significant, the same way, at 95%.
    assert (at95[at998 != "similar"] == at998[at998 != "similar"]).all()
    flipped = benchmark.compare_with_benchmark(lo95, hi95, bench, "lower_is_better")
    swap = {"better": "worse", "worse": "better", "similar": "similar"}
    assert [swap[v] for v in at95] == list(flipped)
    neutral = benchmark.compare_with_benchmark(lo95, hi95, bench, "no_judgement")
    assert [{"better": "higher", "worse": "lower"}.get(v, v) for v in at95] == list(neutral)


@FEW
@given(proportions(max_n=5000))
def test_phe_funnel_significance_levels_are_consistent(xn) -> None:
    x, n = xn
    assume(0 < x.sum() < n.sum())
    labels = benchmark.assign_funnel_significance(x, n, "proportion")
    assert set(labels) <= set(benchmark.FUNNEL_LABELS)
    limits = benchmark.funnel_limits(x, n, "proportion", multiplier=100)
    assert (limits["lower_3s_limit"] <= limits["lower_2s_limit"] + 1e-9).all()
    assert (limits["upper_2s_limit"] <= limits["upper_3s_limit"] + 1e-9).all()
    assert (limits["lower_2s_limit"] <= limits["baseline"] + 1e-9).all()
    assert (limits["baseline"] <= limits["upper_2s_limit"] + 1e-9).all()


# ── SPC ──────────────────────────────────────────────────────────────────────────────────
VALUES = st.one_of(st.floats(-1e6, 1e6), st.integers(-50, 50), st.just(float("nan")))


@st.composite
def spc_frames(draw):
    n_series = draw(st.integers(1, 4))
    rows = []
    for s in range(n_series):
        n = draw(st.integers(1, 30))
        ys = draw(st.lists(VALUES, min_size=n, max_size=n))
        rows += [(f"s{s}", t, float(y)) for t, y in enumerate(ys)]
    return pd.DataFrame(rows, columns=["series", "period", "value"])


@FEW
@given(spc_frames(), st.sampled_from(["increase", "decrease", "neutral"]),
       st.sampled_from(["2019", "2023"]), st.randoms(use_true_random=False))  # fmt: skip
def test_spc_limits_ordered_and_series_independent_of_row_order(frame, improvement, rules, rnd):
    out = spc.xmr(frame, improvement=improvement, rules=rules)
    ok = out["lpl"].notna() & out["upl"].notna()  # one point has a mean but no moving range
    assert out.loc[ok, "mean"].notna().all()
    assert (out.loc[ok, "lpl"] <= out.loc[ok, "mean"]).all()
    assert (out.loc[ok, "mean"] <= out.loc[ok, "upl"]).all()
    assert (out["special_cause_flag"] == (out["special_cause_type"] != "Common Cause")).all()
    assert not out.loc[out["value"].isna(), "special_cause_flag"].any()
    # Shuffling the rows (series interleaved in any order) changes nothing.
    order = list(range(len(frame)))
    rnd.shuffle(order)
    shuffled = spc.xmr(frame.iloc[order], improvement=improvement, rules=rules)
    pd.testing.assert_frame_equal(out.reset_index(drop=True), shuffled.reset_index(drop=True))
    # Each series is judged alone: the others do not change its points.
    for name, one in frame.groupby("series"):
        alone = spc.xmr(one, improvement=improvement, rules=rules).reset_index(drop=True)
        pd.testing.assert_frame_equal(
            out.loc[out["series"] == name].reset_index(drop=True), alone, check_categorical=False
        )


# ── trends ───────────────────────────────────────────────────────────────────────────────
@st.composite
def trend_frames(draw):
    n_series = draw(st.integers(1, 4))
    rows = []
    for s in range(n_series):
        n = draw(st.integers(0, 12))
        ts = draw(st.lists(st.integers(0, 40), min_size=n, max_size=n, unique=True))
        rows += [(f"s{s}", t, draw(VALUES)) for t in ts]
    return pd.DataFrame(rows, columns=["series", "t", "value"]).astype({"t": float})


@FEW
@given(trend_frames(), st.randoms(use_true_random=False))
def test_mann_kendall_p_in_0_1_tau_in_minus1_1_and_order_free(frame, rnd) -> None:
    assume(len(frame))
    mk = trend.mann_kendall(frame)
    p, tau = mk["p_value"].dropna(), mk["kendall_tau"].dropna()
    assert ((p >= 0) & (p <= 1)).all(), mk
    assert ((tau >= -1 - 1e-12) & (tau <= 1 + 1e-12)).all(), mk
    has_tau = mk["kendall_tau"].notna()
    assert (np.sign(mk.loc[has_tau, "kendall_s"]) == np.sign(mk.loc[has_tau, "kendall_tau"])).all()
    order = list(range(len(frame)))
    rnd.shuffle(order)
    again = trend.mann_kendall(frame.iloc[order])
    pd.testing.assert_frame_equal(mk.reset_index(drop=True), again.reset_index(drop=True))
    ts, ts2 = trend.theil_sen(frame), trend.theil_sen(frame.iloc[order])
    pd.testing.assert_frame_equal(ts.reset_index(drop=True), ts2.reset_index(drop=True))


@FAST
@given(
    st.lists(st.floats(0.001, 1e4), min_size=2, max_size=15),
    st.lists(st.floats(0.001, 1e4), min_size=2, max_size=15),
    st.floats(-1e6, 1e6),
)
def test_monotone_series_give_the_sign_of_their_direction(steps_t, steps_y, start) -> None:
    n = min(len(steps_t), len(steps_y))
    t = np.cumsum(steps_t[:n])
    y = start + np.cumsum(steps_y[:n])
    assume(np.all(np.diff(y) > 0))  # strictly rising after rounding
    frame = pd.DataFrame({"series": ["up"] * n + ["down"] * n, "t": np.r_[t, t],
                          "value": np.r_[y, -y]})  # fmt: skip
    ts = trend.theil_sen(frame).set_index("series")
    mk = trend.mann_kendall(frame).set_index("series")
    assert ts.loc["up", "slope"] > 0 and ts.loc["down", "slope"] < 0
    assert mk.loc["up", "kendall_tau"] == 1 and mk.loc["down", "kendall_tau"] == -1
    assert mk.loc["up", "p_value"] == pytest.approx(mk.loc["down", "p_value"], rel=1e-12)


@FAST
@given(
    st.lists(st.sampled_from(["PRACTICE_CODE", "PRACTICE_NAME", "CCG_ODS_CODE",
                              "SUB_ICB_LOC_ODS_CODE", "REGION_NAME", "ICB_NAME", "PCN_ODS_CODE",
                              "x"]), min_size=1, max_size=5, unique=True),
    st.lists(st.lists(st.one_of(st.sampled_from(AREA_CELLS), TEXT), min_size=5, max_size=5),
             min_size=1, max_size=6),
)  # fmt: skip
def test_practice_hierarchies_load_a_valid_table_or_raise_input_error(header, rows) -> None:
    rows = [r[: len(header)] for r in rows]
    data = to_bytes(header, rows, {"delimiter": ",", "encoding": "utf-8", "newline": "\n",
                                   "quoting": csv.QUOTE_ALL})  # fmt: skip
    try:
        areas = loaders.load_practice_hierarchy(data, name="qof.csv")
    except InputError as exc:
        assert str(exc).startswith("qof.csv")
        return
    assert areas["code"].is_unique and (areas["code"] != "").all()
    assert set(areas["type"]) == {"practice"}


def test_every_public_loader_has_a_property_here() -> None:
    """A new public loader must get a property test in this file."""
    covered = {"load_values", "load_areas", "load_practice_hierarchy", "read_table"}
    public = {n for n in loaders.__all__ if n.startswith(("load_", "read_"))}
    assert public <= covered, public - covered
