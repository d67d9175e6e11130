"""Exports: offline PNG/SVG of charts, and CSV/Excel that cannot run formulas when opened.

Formula-injection cases follow OWASP's CSV Injection guidance
(https://owasp.org/www-community/attacks/CSV_Injection): cells beginning with = + - @ tab or
carriage return get a leading single quote; genuine numbers stay numbers.
"""

from __future__ import annotations

import csv
import io

import altair as alt
import numpy as np
import openpyxl
import pandas as pd
import pytest

from iaf import charts, exports
from iaf.errors import InputError
from tests.test_charts import build, funnel_frames

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

HOSTILE = ["=1+1", "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1:A9)", "\tx", "\rx"]
HARMLESS = ["plain", "a=b", "", "NHS Airedale, Wharfedale and Craven CCG", "-5", "+3.5", "-1e-3"]


# ── Images ──────────────────────────────────────────────────────────────────────────────────
@pytest.fixture(scope="module")
def funnel() -> alt.LayerChart:
    return build("funnel")


def test_funnel_exports_to_png(funnel):
    png = exports.chart_png(funnel)
    assert png[:8] == PNG_MAGIC
    one = exports.chart_png(funnel, scale=1)
    assert len(png) > len(one), "scale=2 renders more pixels"


def test_funnel_exports_to_svg_carrying_its_title_and_subtitle(funnel):
    svg = exports.chart_svg(funnel)
    assert svg.startswith("<svg")
    assert "127c A&amp;E 4 hours (%): higher is better" in svg
    assert "Source: CCG IAF indicator data. n = 6 areas." in svg
    assert "Charlie" in svg  # the selected area's label


def test_exports_use_a_font_with_every_glyph_and_keep_the_charts_own_config(funnel):
    spec = exports._for_export(exports.chart_spec(funnel))
    assert spec["config"]["font"] == exports.EXPORT_FONT
    assert spec["config"]["axis"]["labelFontSize"] >= 14
    assert funnel.to_dict()["config"]["font"] == charts.FONT, "the chart itself is untouched"


def test_more_than_5000_inline_rows_asks_for_pre_aggregation():
    big = pd.DataFrame({"x": np.arange(6000.0), "y": np.arange(6000.0)})
    chart = alt.Chart(big).mark_point().encode(x="x:Q", y="y:Q")
    with pytest.raises(InputError, match="Pre-aggregate"):
        exports.chart_png(chart)
    with pytest.raises(InputError, match="Pre-aggregate"):
        exports.chart_svg(chart)


def test_rows_are_counted_across_all_inline_datasets():
    half = pd.DataFrame({"x": np.arange(3000.0)})
    other = half.assign(x=half["x"] + 0.5)
    chart = alt.layer(
        alt.Chart(half).mark_tick().encode(x="x:Q"),
        alt.Chart(other).mark_tick().encode(x="x:Q"),
    )
    with pytest.raises(InputError, match="6,000 rows"):
        exports.chart_svg(chart)
    small = alt.Chart(half.head(10)).mark_tick().encode(x="x:Q")
    assert exports.chart_svg(small).startswith("<svg")


def test_png_scale_must_be_positive(funnel):
    with pytest.raises(InputError, match="scale must be a positive number"):
        exports.chart_png(funnel, scale=0)


# ── Spreadsheet safety ──────────────────────────────────────────────────────────────────────
def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "text": HOSTILE + HARMLESS,
            "number": np.arange(len(HOSTILE) + len(HARMLESS), dtype=float) - 3,
        }
    )


@pytest.mark.parametrize("value", HOSTILE, ids=repr)
def test_formula_starts_get_a_leading_quote(value):
    out = exports.safe_for_spreadsheet(pd.DataFrame({"t": [value]}))
    assert out["t"].iloc[0] == "'" + value


@pytest.mark.parametrize("value", HARMLESS, ids=repr)
def test_harmless_text_and_plain_numbers_as_text_are_left_alone(value):
    out = exports.safe_for_spreadsheet(pd.DataFrame({"t": [value]}))
    assert out["t"].iloc[0] == value


def test_numbers_stay_numbers_and_the_input_is_not_changed():
    data = frame().assign(when=pd.Timestamp("2017-03-31"), flag=True, missing=[None] * 13)
    before = data.copy()
    out = exports.safe_for_spreadsheet(data)
    pd.testing.assert_frame_equal(data, before)
    assert out["number"].dtype == data["number"].dtype
    assert out["number"].iloc[0] == -3.0
    assert out["when"].dtype == data["when"].dtype
    assert out["missing"].isna().all()


def test_column_names_and_object_columns_are_neutralised_too():
    data = pd.DataFrame({'=HYPERLINK("http://x")': ["=cmd", 5, -2.5, None]}, dtype=object)
    out = exports.safe_for_spreadsheet(data)
    assert list(out.columns) == ['\'=HYPERLINK("http://x")']
    assert out.iloc[:, 0].tolist()[:3] == ["'=cmd", 5, -2.5]


def test_csv_cells_read_back_as_quoted_text_and_numbers():
    rows = list(csv.reader(io.StringIO(exports.to_csv_bytes(frame()).decode("utf-8-sig"))))
    assert rows[0] == ["text", "number"]
    body = {r[0]: r[1] for r in rows[1:]}
    for value in HOSTILE:
        assert "'" + value in body
    assert body["'=1+1"] == "-3.0", "a genuine negative number is written as a number"
    assert "-5" in body and "'-5" not in body


def test_csv_quotes_text_so_a_carriage_return_cannot_start_a_new_row():
    raw = exports.to_csv_bytes(pd.DataFrame({"t": ["ok\r=cmd()"], "n": [-1.5]}))
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline="")))
    assert rows == [["t", "n"], ["ok\r=cmd()", "-1.5"]]


def test_excel_cells_read_back_as_text_starting_with_a_quote():
    data = frame().assign(bad="ok\x0bstill")
    book = openpyxl.load_workbook(io.BytesIO(exports.to_excel_bytes(data, "IAF: [export]")))
    sheet = book.worksheets[0]
    assert sheet.title == "IAF_ _export_"
    cells = {row[0].value: row for row in sheet.iter_rows(min_row=2)}
    for value in HOSTILE:
        # openpyxl normalises a lone CR in text to LF when reading back, as Excel does.
        key = "'" + value.replace("\r", "\n")
        row = cells.get(key) or cells.get("'" + value)
        assert row is not None, value
        assert row[0].data_type == "s", "text, never a formula"
    number = cells["'=1+1"][1]
    assert number.value == -3 and number.data_type == "n"
    assert cells["-5"][0].data_type == "s"
    assert cells["plain"][2].value == "okstill", "control characters xlsx cannot hold are dropped"


def test_exports_accept_real_chart_frames():
    points, _ = funnel_frames()
    data = points.assign(area_name=["=evil()", *points["area_name"].iloc[1:]])
    book = openpyxl.load_workbook(io.BytesIO(exports.to_excel_bytes(data, "funnel")))
    assert book["funnel"]["B2"].value == "'=evil()"
    with pytest.raises(InputError, match="expected a pandas DataFrame"):
        exports.safe_for_spreadsheet([["=1"]])  # type: ignore[arg-type]
