"""Build the hostile-input corpus: small files people really upload, each broken one way.

Run at test time into a temporary folder (``build(tmp_path)``), or by hand
(``python tests/bad_inputs/make_corpus.py OUTDIR``) to look at the files. Nothing here is
committed as data: the zip-bomb-like workbook and the oversize file must never sit in the repo.

Each :class:`Case` names the file, how to load it, and the exact outcome: the ``InputError``
sentence, a report problem, or the row reasons in ``report.rejected``.
"""

from __future__ import annotations

import codecs
import io
import json
import sys
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HEADER = ["area_code", "indicator", "period", "numerator", "denominator"]
GOOD_ROWS = [
    ["00C", "123a", "2016/17 Q1", "40", "100"],
    ["00D", "123a", "2016/17 Q1", "55", "120"],
    ["00C", "123a", "2016/17 Q2", "42", "100"],
    ["00D", "123a", "2016/17 Q2", "*", "120"],
]
KNOWN_AREAS = ("00C", "00D", "00K")
SCRIPT = "<script>alert('x')</script>"
MARKDOWN = "**bold** [link](javascript:alert(1))"
FORMULA = '=HYPERLINK("http://evil.example","click")'


def csv_bytes(rows: list[list[str]], delimiter: str = ",", encoding: str = "utf-8") -> bytes:
    def cell(v: str) -> str:
        if any(ch in v for ch in (delimiter, '"', "\n")):
            return '"' + v.replace('"', '""') + '"'
        return v

    text = "".join(delimiter.join(cell(v) for v in r) + "\n" for r in rows)
    return text.encode(encoding)


def good_csv() -> bytes:
    return csv_bytes([HEADER, *GOOD_ROWS])


def with_rows(*rows: list[str], header: list[str] = HEADER) -> Callable[[], bytes]:
    return lambda: csv_bytes([header, *[list(r) for r in rows]])


def xlsx(build: Callable[[Any], None]) -> Callable[[], bytes]:
    def make() -> bytes:
        import openpyxl

        wb = openpyxl.Workbook()
        build(wb)
        buf = io.BytesIO()
        wb.save(buf)
        return buf.getvalue()

    return make


def _fill(ws: Any, rows: list[list[Any]]) -> None:
    for r in rows:
        ws.append(r)


def _two_sheets(wb: Any) -> None:
    _fill(wb.active, [HEADER, *GOOD_ROWS])
    wb.active.title = "Data"
    wb.create_sheet("Notes").append(["About this file"])


def _formulas(wb: Any) -> None:
    ws = wb.active
    ws.title = "Data"
    _fill(ws, [[*HEADER, "value"]])
    for i, r in enumerate(GOOD_ROWS[:2], start=2):
        ws.append([*r, f"=D{i}/E{i}*100"])


def _merged(wb: Any) -> None:
    ws = wb.active
    ws.title = "Data"
    _fill(
        ws, [HEADER, ["00C", "123a", "2016/17 Q1", 40, 100], [None, "123a", "2016/17 Q2", 42, 100]]
    )
    ws.merge_cells("A2:A3")  # published tables merge a repeated area code down the rows


def zip_bomb_xlsx() -> bytes:
    """A real workbook plus one part of 20 MB of zeros that compresses ~1000:1."""
    base = xlsx(lambda wb: _fill(wb.active, [HEADER, *GOOD_ROWS]))()
    buf = io.BytesIO(base)
    with zipfile.ZipFile(buf, "a", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("xl/media/padding.bin", b"\0" * (20 * 1024 * 1024))
    return buf.getvalue()


def geojson(features: list[dict[str, Any]] | Any) -> Callable[[], bytes]:
    if isinstance(features, list):
        doc: Any = {"type": "FeatureCollection", "features": features}
    else:
        doc = features
    return lambda: json.dumps(doc).encode()


SQUARE_CW = [[0.0, 50.0], [0.0, 51.0], [1.0, 51.0], [1.0, 50.0], [0.0, 50.0]]
SQUARE_CCW = SQUARE_CW[::-1]


def feature(code: str, ring: list[list[float]] | None = None, *, name: str = "Area",
            geometry: Any = "polygon") -> dict[str, Any]:  # fmt: skip
    if geometry == "polygon":
        geometry = {"type": "Polygon", "coordinates": [ring or SQUARE_CW]}
    return {"type": "Feature", "properties": {"CCG16CD": code, "CCG16NM": name},
            "geometry": geometry}  # fmt: skip


def fingertips_with_breakdowns() -> bytes:
    head = ["Indicator ID", "Indicator Name", "Area Code", "Area Name", "Area Type", "Sex",
            "Age", "Category Type", "Category", "Time period", "Value", "Count",
            "Denominator"]  # fmt: skip
    rows = [
        ["90799", "IAPT reliable improvement", "00C", "NHS Darlington CCG", "CCGs", "Persons",
         "18+ yrs", "", "", "2016/17 Q1", "40", "40", "100"],
        ["90799", "IAPT reliable improvement", "00C", "NHS Darlington CCG", "CCGs", "Persons",
         "18+ yrs", "Deprivation", "Most deprived", "2016/17 Q1", "30", "3", "10"],
        ["90799", "IAPT reliable improvement", "00C", "NHS Darlington CCG", "CCGs", "Male",
         "18+ yrs", "", "", "2016/17 Q1", "50", "5", "10"],
    ]  # fmt: skip
    return csv_bytes([head, *rows])


@dataclass(frozen=True)
class Case:
    """One hostile file and what must happen to it.

    ``call``: "values" (load_values), "table" (read_table), "boundaries" (load_boundaries).
    ``error``: the exact InputError message, or None when the file loads.
    ``problem``: an exact report problem message expected when it loads.
    ``rejected``: the exact reasons listed in ``report.rejected`` (in row order).
    ``n_loaded``: rows (or features) loaded, when it loads.
    """

    id: str
    filename: str
    make: Callable[[], bytes] | None
    call: str = "values"
    kwargs: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    problem: str | None = None
    rejected: tuple[str, ...] = ()
    n_loaded: int | None = None


def _long_cell() -> bytes:
    return csv_bytes([HEADER, ["00C", "123a", "2016/17 Q1", "1" * 200_000, "100"]])


CASES: list[Case] = [
    # ── encodings and delimiters ─────────────────────────────────────────────────────────
    Case("utf8_bom", "bom.csv", lambda: codecs.BOM_UTF8 + good_csv(), n_loaded=4),
    Case("utf16le_bom", "utf16.csv", lambda: good_csv().decode().encode("utf-16"), n_loaded=4),
    Case(
        "utf16be_bom",
        "utf16be.csv",
        lambda: codecs.BOM_UTF16_BE + good_csv().decode().encode("utf-16-be"),
        n_loaded=4,
    ),
    Case(
        "utf16_without_bom",
        "utf16nobom.csv",
        lambda: good_csv().decode().encode("utf-16-le"),
        error="utf16nobom.csv: contains NUL bytes, so it is not a text CSV (a binary file, or "
        "UTF-16 without a byte-order mark: save it as UTF-8)",
    ),
    Case(
        "cp1252_accents",
        "cp1252.csv",
        lambda: csv_bytes(
            [[*HEADER, "note"], ["00C", "123a", "2016/17 Q1", "40", "100", "Café revisión"]],
            encoding="cp1252",
        ),
        problem="cp1252.csv is not UTF-8 (byte 84 is not valid UTF-8): read as Windows-1252; "
        "check accented names, or save it as CSV UTF-8",
        n_loaded=1,
    ),
    Case("semicolon", "semi.csv", lambda: csv_bytes([HEADER, *GOOD_ROWS], ";"), n_loaded=4),
    Case("tab", "tab.tsv", lambda: csv_bytes([HEADER, *GOOD_ROWS], "\t"), n_loaded=4),
    Case("pipe", "pipe.csv", lambda: csv_bytes([HEADER, *GOOD_ROWS], "|"), n_loaded=4),
    Case(
        "binary_png",
        "image.csv",
        lambda: b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(64),
        error="image.csv: contains NUL bytes, so it is not a text CSV (a binary file, or "
        "UTF-16 without a byte-order mark: save it as UTF-8)",
    ),
    # ── columns ─────────────────────────────────────────────────────────────────────────
    Case(
        "missing_period_column",
        "noperiod.csv",
        with_rows(
            ["00C", "123a", "40", "100"],
            header=["area_code", "indicator", "numerator", "denominator"],
        ),
        error="noperiod.csv: columns not recognised as the canonical or Fingertips layout; "
        "give a mapping (area_code, period, indicator, numerator, denominator or value); its "
        "columns are: 'area_code', 'indicator', 'numerator', 'denominator'",
    ),
    Case(
        "mapping_names_absent_column",
        "mapped.csv",
        good_csv,
        kwargs={
            "mapping": {
                "area_code": "CCG Code",
                "period": "period",
                "indicator": "indicator",
                "value": "numerator",
            }
        },
        error="mapped.csv: mapping 'area_code' → column 'CCG Code', but the file has no such "
        "column; its columns are: 'area_code', 'indicator', 'period', 'numerator', "
        "'denominator'",
    ),
    Case(
        "mapping_without_period",
        "mapped2.csv",
        good_csv,
        kwargs={
            "mapping": {
                "area_code": "area_code",
                "indicator": "indicator",
                "numerator": "numerator",
                "denominator": "denominator",
            }
        },
        error="mapped2.csv: the mapping gives no 'period' (a column, or {'fixed': '2016/17 Q1'})"
        "; the file's columns are: 'area_code', 'indicator', 'period', 'numerator', "
        "'denominator'",
    ),
    Case(
        "extra_columns",
        "extra.csv",
        lambda: csv_bytes([[*HEADER, "comment", ""], *[[*r, "x", ""] for r in GOOD_ROWS]]),
        n_loaded=4,
    ),
    Case(
        "duplicated_columns",
        "dupcols.csv",
        with_rows(["00C", "123a", "2016/17 Q1", "40", "100", "41"], header=[*HEADER, "numerator"]),
        error="dupcols.csv: column names appear more than once: 'numerator' (columns 4, 6); "
        "rename them so each column has one name",
    ),
    Case(
        "single_column",
        "onecol.csv",
        lambda: b"area_code\n00C\n00D\n",
        error="onecol.csv: columns not recognised as the canonical or Fingertips layout; give a "
        "mapping (area_code, period, indicator, numerator, denominator or value); its columns "
        "are: 'area_code'",
    ),
    # ── numbers ─────────────────────────────────────────────────────────────────────────
    Case(
        "text_in_numbers",
        "text.csv",
        with_rows(["00C", "123a", "2016/17 Q1", "forty", "100"], GOOD_ROWS[1]),
        rejected=("text where a number belongs in column numerator",),
        n_loaded=1,
    ),
    Case(
        "negative_counts",
        "neg.csv",
        with_rows(["00C", "123a", "2016/17 Q1", "-4", "100"], GOOD_ROWS[1]),
        rejected=("negative numerator",),
        n_loaded=1,
    ),
    Case(
        "fractional_counts",
        "frac.csv",
        with_rows(["00C", "123a", "2016/17 Q1", "4.5", "100"], GOOD_ROWS[1]),
        rejected=("fractional numerator where a whole count is required",),
        n_loaded=1,
    ),
    Case(
        "numerator_over_denominator",
        "over.csv",
        with_rows(["00C", "123a", "2016/17 Q1", "140", "100"], GOOD_ROWS[1]),
        rejected=("numerator exceeds denominator",),
        n_loaded=1,
    ),
    Case(
        "zero_denominator",
        "zero.csv",
        with_rows(["00C", "104a", "2016/17 Q1", "3", "0"], GOOD_ROWS[1]),
        rejected=("zero denominator",),
        n_loaded=1,
    ),
    Case(
        "zero_of_zero",
        "none.csv",
        with_rows(["00C", "123a", "2016/17 Q1", "0", "0"], GOOD_ROWS[1]),
        problem="zero numerator and zero denominator (nothing to measure: kept as missing, "
        "not 0) in 1 row: row 2 00C 123a 2016/17 Q1",
        n_loaded=2,
    ),
    Case(
        "nan_and_inf",
        "naninf.csv",
        with_rows(
            ["00C", "123a", "2016/17 Q1", "NaN", "100"],
            ["00D", "123a", "2016/17 Q1", "40", "inf"],
            GOOD_ROWS[2],
        ),
        rejected=(
            "text where a number belongs in column numerator",
            "infinite number in column denominator",
        ),
        n_loaded=1,
    ),
    Case(
        "duplicate_keys",
        "dup.csv",
        with_rows(GOOD_ROWS[0], ["00C", "123a", "2016/17 q1", "41", "100"]),
        rejected=("duplicate area, indicator and period (the first was kept)",),
        n_loaded=1,
    ),
    Case(
        "blank_area_code",
        "blank.csv",
        with_rows(["", "123a", "2016/17 Q1", "40", "100"], GOOD_ROWS[1]),
        rejected=("blank area code",),
        n_loaded=1,
    ),
    Case(
        "unknown_area",
        "area.csv",
        with_rows(["99Z", "123a", "2016/17 Q1", "40", "100"], GOOD_ROWS[1]),
        kwargs={"area_codes": KNOWN_AREAS},
        rejected=("area code not in the areas table (99Z)",),
        n_loaded=1,
    ),
    Case(
        "unknown_indicator",
        "ind.csv",
        with_rows(["00C", "999z", "2016/17 Q1", "40", "100"], GOOD_ROWS[1]),
        rejected=("unknown indicator ('999z'; expected an IAF code such as 101a)",),
        n_loaded=1,
    ),
    Case(
        "mixed_period_formats",
        "mixed.csv",
        with_rows(GOOD_ROWS[0], GOOD_ROWS[1], ["00K", "123a", "2016-05", "40", "100"]),
        rejected=(
            "mixed period formats within one indicator (these rows differ from the "
            "indicator's usual kind of period)",
        ),
        n_loaded=2,
    ),
    Case(
        "unparseable_period",
        "period.csv",
        with_rows(["00C", "123a", "Q1 2016", "40", "100"], GOOD_ROWS[1]),
        rejected=("unrecognised period ('Q1 2016'; expected e.g. 2016/17 Q1, 2016/17, 2017-01)",),
        n_loaded=1,
    ),
    # ── empty and truncated ─────────────────────────────────────────────────────────────
    Case(
        "empty_file",
        "empty.csv",
        lambda: b"",
        error="empty.csv is empty: it has no header and no rows",
    ),
    Case(
        "whitespace_only",
        "blank.csv",
        lambda: b" \r\n\n\t\n",
        error="blank.csv is empty: it has no header and no rows",
    ),
    Case(
        "header_only",
        "header.csv",
        lambda: csv_bytes([HEADER]),
        error="header.csv has a header but no data rows",
    ),
    Case(
        "truncated_last_line",
        "trunc.csv",
        lambda: good_csv() + b"00K,123a,2016/1",
        error="trunc.csv: the last row (row 6) has 3 of 5 values and no line end: the file "
        "looks truncated",
    ),
    Case(
        "unterminated_quote",
        "quote.csv",
        lambda: good_csv() + b'00K,123a,"2016/17 Q1,40,100\n',
        error="quote.csv: line 6: a quoted value is never closed (the file looks truncated or "
        "has a stray double quote)",
    ),
    Case(
        "too_many_fields",
        "wide.csv",
        lambda: (
            b"".join(good_csv().splitlines(keepends=True)[:2]) + b"00D,123a,2016/17 Q1,1,234,2000\n"
        ),
        error="wide.csv: row 3 has 6 values but the header has 5 columns: an unquoted comma "
        "inside a value?",
    ),
    # ── Excel ───────────────────────────────────────────────────────────────────────────
    Case(
        "xlsx_several_sheets",
        "two.xlsx",
        xlsx(_two_sheets),
        error="two.xlsx has 2 sheets (Data, Notes): say which one to read",
    ),
    Case(
        "xlsx_sheet_not_there",
        "two2.xlsx",
        xlsx(_two_sheets),
        kwargs={"sheet": "Values"},
        error="two2.xlsx has no sheet 'Values'; its sheets are: Data, Notes",
    ),
    Case(
        "xlsx_formulas",
        "formula.xlsx",
        xlsx(_formulas),
        problem="formula.xlsx sheet 'Data': 2 cells hold formulas (F2, F3): their last "
        "calculated values were read (blank if never calculated)",
        n_loaded=2,
    ),
    Case(
        "xlsx_merged_cells",
        "merged.xlsx",
        xlsx(_merged),
        problem="merged.xlsx sheet 'Data': merged cells (A2:A3): only the first cell of each "
        "holds the value, the others were read as blank",
        rejected=("blank area code",),
        n_loaded=1,
    ),
    Case(
        "xlsx_zip_bomb",
        "bomb.xlsx",
        zip_bomb_xlsx,
        error="bomb.xlsx: part xl/media/padding.bin would unpack to 20.0 MB, more than 100 "
        "times its packed size: refused as a likely decompression bomb",
    ),
    Case(
        "xlsx_not_a_zip",
        "fake.xlsx",
        lambda: b"PK\x03\x04 this is not really a zip",
        error="fake.xlsx is not a valid .xlsx workbook (the zip container is damaged)",
    ),
    Case(
        "xls_97_2003",
        "old.xls",
        lambda: b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(100),
        error="old.xls is an Excel 97-2003 (.xls) workbook, which is not supported: save it as "
        ".xlsx or CSV",
    ),
    Case(
        "parquet_damaged",
        "bad.parquet",
        lambda: b"PAR1 not really parquet PAR1",
        error="bad.parquet is not a readable Parquet file",
    ),
    # ── markup, formulas and long strings carried as text ──────────────────────────────
    Case(
        "markup_in_names",
        "markup.csv",
        with_rows(
            ["00C", "123a", "2016/17 Q1", "40", "100", SCRIPT, MARKDOWN],
            ["00D", "123a", "2016/17 Q1", "40", "100", FORMULA, "=1+1"],
            header=[*HEADER, "area_name", "note"],
        ),
        kwargs={"mapping": {t: t for t in [*HEADER, "area_name", "note"]}},
        n_loaded=2,
    ),
    Case(
        "very_long_cell",
        "long.csv",
        _long_cell,
        error="long.csv: line 2: a cell is longer than 131,072 characters",
    ),
    Case(
        "long_area_code",
        "longcode.csv",
        with_rows(["X" * 5000, "123a", "2016/17 Q1", "40", "100"], GOOD_ROWS[1]),
        rejected=("area code longer than 20 characters",),
        n_loaded=1,
    ),
    # ── size ────────────────────────────────────────────────────────────────────────────
    Case(
        "over_size_limit_upload",
        "big.csv",
        lambda: good_csv() * 40,
        kwargs={"max_bytes": 1000},
        error="big.csv is 6.1 KB, over the 1,000 bytes limit for one file",
    ),
    Case(
        "over_200mb_on_disk",
        "huge.csv",
        None,
        error="huge.csv is 201.0 MB, over the 200.0 MB limit for one file",
    ),
    # ── Fingertips breakdowns ───────────────────────────────────────────────────────────
    Case(
        "fingertips_breakdowns",
        "ft.csv",
        fingertips_with_breakdowns,
        kwargs={"indicator_map": {"90799": "123a"}},
        problem="ft.csv: 2 breakdown rows (by category, sex or age) were set aside; only totals "
        "(Persons, All ages, no category) are loaded; they are listed with the rejected rows",
        rejected=("breakdown: category Deprivation", "breakdown: sex Male"),
        n_loaded=1,
    ),
    # ── GeoJSON ─────────────────────────────────────────────────────────────────────────
    Case(
        "geojson_not_json",
        "map.geojson",
        lambda: b'{"type": "FeatureCollection", "features": [',
        call="boundaries",
        error="map.geojson: not JSON (line 1, column 44: Expecting value)",
    ),
    Case(
        "geojson_not_collection",
        "geom.geojson",
        geojson({"type": "Polygon", "coordinates": [SQUARE_CW]}),
        call="boundaries",
        error="geom.geojson: not a GeoJSON FeatureCollection (its type is 'Polygon')",
    ),
    Case(
        "geojson_point",
        "point.geojson",
        geojson(
            [
                feature("E38000001"),
                feature("E38000002", geometry={"type": "Point", "coordinates": [0, 51]}),
            ]
        ),
        call="boundaries",
        error="point.geojson: features[1] (E38000002) is a Point, not a Polygon or MultiPolygon",
    ),
    Case(
        "geojson_null_geometry",
        "null.geojson",
        geojson([feature("E38000001", geometry=None)]),
        call="boundaries",
        error="null.geojson: features[0] (E38000001) has no geometry",
    ),
    Case(
        "geojson_empty_coordinates",
        "emptyc.geojson",
        geojson([feature("E38000001", geometry={"type": "Polygon", "coordinates": []})]),
        call="boundaries",
        error="emptyc.geojson: features[0] (E38000001) has empty coordinates",
    ),
    Case(
        "geojson_unclosed_ring",
        "open.geojson",
        geojson([feature("E38000001", [*SQUARE_CW[:-1], [0.0, 50.5]])]),
        call="boundaries",
        error="open.geojson: features[0] (E38000001), polygon 0 ring 0 is not closed (its "
        "first and last points differ)",
    ),
    Case(
        "geojson_british_national_grid",
        "bng.geojson",
        geojson(
            [
                feature(
                    "E38000001",
                    [[400000, 500000], [400000, 510000], [410000, 510000], [400000, 500000]],
                )
            ]
        ),
        call="boundaries",
        error="bng.geojson: features[0] (E38000001), polygon 0 ring 0, point 0: [400000, "
        "500000] is not a longitude/latitude (lon must be within ±180 and lat within ±90: "
        "projected coordinates such as British National Grid?)",
    ),
    Case(
        "geojson_nan_coordinate",
        "nan.geojson",
        lambda: (
            b'{"type":"FeatureCollection","features":[{"type":"Feature","properties":'
            b'{"CCG16CD":"E38000001"},"geometry":{"type":"Polygon","coordinates":[[[0,50],[NaN,51],'
            b"[1,51],[0,50]]]}}]}"
        ),
        call="boundaries",
        error="nan.geojson: JSON holds NaN, which is not a number GeoJSON allows",
    ),
    Case(
        "geojson_inside_out",
        "ccw.geojson",
        geojson([feature("E38000001", SQUARE_CCW), feature("E38000002")]),
        call="boundaries",
        n_loaded=2,
    ),
    Case(
        "geojson_markup_names",
        "names.geojson",
        geojson([feature("E38000001", name=SCRIPT), feature("E38000002", name=FORMULA)]),
        call="boundaries",
        n_loaded=2,
    ),
    Case(
        "geojson_too_large",
        "large.geojson",
        geojson([feature("E38000001")] * 50),
        call="boundaries",
        kwargs={"max_bytes": 2048},
        error="large.geojson is 9.7 KB, over the 2.0 KB limit for a boundary file",
    ),
]


def build(folder: Path) -> dict[str, Path]:
    """Write every case's file into ``folder``; return id → path."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for case in CASES:
        path = folder / case.id / case.filename
        path.parent.mkdir(exist_ok=True)
        if case.make is None:  # the oversize file: sparse, so 201 MB costs no disk or time
            with path.open("wb") as fh:
                fh.write(good_csv())
                fh.truncate(201 * 1024 * 1024)
        else:
            path.write_bytes(case.make())
        paths[case.id] = path
    return paths


if __name__ == "__main__":
    out = build(Path(sys.argv[1] if len(sys.argv) > 1 else "bad_inputs_out"))
    print(f"wrote {len(out)} files")
