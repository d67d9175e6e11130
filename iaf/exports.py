"""Files for download: chart images (offline, via vl-convert) and spreadsheet-safe tables.

Images are rendered from the chart's own Vega-Lite spec, so a saved PNG/SVG carries the title,
subtitle (method, comparator, source, period, n) and legend the app shows. Tables go through
:func:`safe_for_spreadsheet` first, so a cell that came from a file cannot run as a formula when
the download is opened in Excel or LibreOffice.

References
----------
- OWASP, "CSV Injection" (https://owasp.org/www-community/attacks/CSV_Injection): prefix cells
  that begin with ``=``, ``+``, ``-``, ``@``, tab or carriage return with a single quote.
- vl-convert (https://github.com/vega/vl-convert): Vega-Lite to SVG/PNG without a browser.
"""

from __future__ import annotations

import csv
import io
import re
from typing import Any

import altair as alt
import pandas as pd
import vl_convert as vlc

from iaf.errors import InputError

__all__ = [
    "MAX_INLINE_ROWS",
    "chart_png",
    "chart_spec",
    "chart_svg",
    "safe_for_spreadsheet",
    "to_csv_bytes",
    "to_excel_bytes",
]

# Altair's own inline-data guard (alt.data_transformers "default" max_rows); exports keep it.
MAX_INLINE_ROWS = 5_000
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# A plain number written as text ("-12.5", "+3", "-1e-3") cannot run as a formula; leave it.
_PLAIN_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
# Characters XML 1.0 (so .xlsx) cannot hold; openpyxl refuses them (tab, LF and CR are allowed).
_XML_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_SHEET_FORBIDDEN = re.compile(r"[\[\]:*?/\\]")
# The renderer swaps a whole label to another font when one glyph is missing, and Arial's
# stand-in (Liberation Sans) lacks △ ▽ ◆ ★; DejaVu Sans has every glyph the charts use.
EXPORT_FONT = "DejaVu Sans"


# ── Chart images ────────────────────────────────────────────────────────────────────────────
def chart_spec(chart: alt.TopLevelMixin) -> dict[str, Any]:
    """The chart's validated Vega-Lite spec, refusing more than 5,000 inline rows."""
    try:
        spec = chart.to_dict()
    except alt.MaxRowsError as exc:
        raise InputError(_too_many_rows_message(None)) from exc
    rows = _inline_rows(spec)
    if rows > MAX_INLINE_ROWS:
        raise InputError(_too_many_rows_message(rows))
    return spec


def chart_png(chart: alt.TopLevelMixin, scale: float = 2) -> bytes:
    """PNG bytes of ``chart`` (``scale`` × its size), rendered offline by vl-convert."""
    if not scale > 0:
        raise InputError(f"scale must be a positive number; got {scale!r}.")
    return vlc.vegalite_to_png(
        _for_export(chart_spec(chart)), vl_version=_vl_version(), scale=scale
    )


def chart_svg(chart: alt.TopLevelMixin) -> str:
    """SVG text of ``chart``, rendered offline by vl-convert."""
    return vlc.vegalite_to_svg(_for_export(chart_spec(chart)), vl_version=_vl_version())


def _for_export(spec: dict[str, Any]) -> dict[str, Any]:
    config = {**spec.get("config", {}), "font": EXPORT_FONT}
    return {**spec, "config": config}


def _vl_version() -> str:
    # Render with the Vega-Lite version Altair wrote the spec for ("v6.4.1" → "6.4"), if bundled.
    major_minor = ".".join(alt.SCHEMA_VERSION.lstrip("v").split(".")[:2])
    return major_minor if major_minor in vlc.get_vegalite_versions() else None  # type: ignore[return-value]


def _inline_rows(spec: Any) -> int:
    """Rows of inline data in a spec: named datasets plus any ``data.values``."""
    total = sum(len(v) for v in spec.get("datasets", {}).values() if isinstance(v, list))

    def walk(node: Any) -> int:
        if isinstance(node, dict):
            here = 0
            data = node.get("data")
            if isinstance(data, dict) and isinstance(data.get("values"), list):
                here += len(data["values"])
            return here + sum(walk(v) for k, v in node.items() if k != "datasets")
        if isinstance(node, list):
            return sum(walk(v) for v in node)
        return 0

    return total + walk(spec)


def _too_many_rows_message(rows: int | None) -> str:
    count = f"{rows:,} rows" if rows is not None else f"more than {MAX_INLINE_ROWS:,} rows"
    return (
        f"This chart carries {count} of data inline; images can hold at most "
        f"{MAX_INLINE_ROWS:,}. Pre-aggregate (or filter) the frame before drawing it."
    )


# ── Spreadsheet-safe tables ─────────────────────────────────────────────────────────────────
def safe_for_spreadsheet(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` in which no text cell (or column name) can run as a formula.

    Every text value that begins with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return
    gets a leading single quote (OWASP CSV-injection guidance), unless it is a plain number
    written as text. Numeric columns are untouched, so a genuine negative number stays a number.
    """
    if not isinstance(frame, pd.DataFrame):
        raise InputError(f"expected a pandas DataFrame; got {type(frame).__name__}.")
    out = frame.rename(columns=lambda c: _neutralise(c) if isinstance(c, str) else c)
    text_cols = [
        c
        for c in out.columns
        if not (
            pd.api.types.is_numeric_dtype(out[c])
            or pd.api.types.is_bool_dtype(out[c])
            or pd.api.types.is_datetime64_any_dtype(out[c])
        )
    ]
    fixed = {}
    for col in text_cols:
        series = out[col]
        if isinstance(series.dtype, pd.CategoricalDtype):
            series = series.astype(object)
        fixed[col] = series.map(_neutralise, na_action="ignore").astype(series.dtype)
    return _assign(out, fixed)


def to_csv_bytes(frame: pd.DataFrame) -> bytes:
    """UTF-8 CSV (with BOM, so Excel reads accents) of the spreadsheet-safe ``frame``.

    Every text field is quoted: a bare carriage return inside an unquoted field would start a
    new row in Excel, and that row could begin with a formula.
    """
    text = safe_for_spreadsheet(frame).to_csv(
        index=False, quoting=csv.QUOTE_NONNUMERIC, lineterminator="\r\n"
    )
    return text.encode("utf-8-sig")


def to_excel_bytes(frame: pd.DataFrame, sheet_name: str = "data") -> bytes:
    """An .xlsx workbook (openpyxl) with one sheet holding the spreadsheet-safe ``frame``.

    Text keeps its leading quote and is written as text, never a formula; control characters
    that .xlsx cannot store are dropped; the sheet name is cut to Excel's 31 allowed characters.
    """
    safe = safe_for_spreadsheet(frame)
    text_cols = [c for c in safe.columns if not pd.api.types.is_numeric_dtype(safe[c])]
    clean = _assign(
        safe,
        {
            c: safe[c].map(
                lambda v: _XML_ILLEGAL.sub("", v) if isinstance(v, str) else v,
                na_action="ignore",
            )
            for c in text_cols
        },
    ).rename(columns=lambda c: _XML_ILLEGAL.sub("", c) if isinstance(c, str) else c)
    name = _SHEET_FORBIDDEN.sub("_", _XML_ILLEGAL.sub("", str(sheet_name))).strip("'")[:31]
    buffer = io.BytesIO()
    with pd.ExcelWriter(buffer, engine="openpyxl") as writer:
        clean.to_excel(writer, sheet_name=name or "data", index=False)
        sheet = writer.sheets[name or "data"]
        for row in sheet.iter_rows():
            for cell in row:
                # openpyxl reads any string starting with "=" as a formula; ours start with "'"
                # after neutralising, but make text explicit for every string cell anyway.
                if isinstance(cell.value, str):
                    cell.data_type = "s"
    return buffer.getvalue()


def _neutralise(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        if _PLAIN_NUMBER.fullmatch(value):
            return value
        return "'" + value
    return value


def _assign(frame: pd.DataFrame, columns: dict[Any, pd.Series]) -> pd.DataFrame:
    out = frame.copy()
    for col, series in columns.items():
        out[col] = series
    return out
