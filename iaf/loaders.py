"""Read indicator files people actually have (CSV, Excel, Parquet; Fingertips downloads;
published spreadsheets with their own column names) into the canonical values table.

Every reader treats cells as text so suppression markers (``*``, ``c``, ``..``) survive until
:func:`iaf.model.validate_values` decides what they mean, and adds ``source_row``: the row
number a spreadsheet would show (header = row 1). Anything unusable raises
:class:`iaf.errors.InputError` with one sentence naming the file, where, and why; row-level
problems are rejected and reported, never dropped silently.

Public API
----------
- :func:`read_table` — bytes or path → text frame with ``source_row``.
- :func:`detect_format` — ``"canonical"``, ``"fingertips"`` or ``"mapped"``.
- :func:`load_values` — any supported file → :class:`LoadResult` (typed values + report).
- :func:`load_areas`, :func:`load_practice_hierarchy` — area lookups → areas table.
"""

from __future__ import annotations

import codecs
import csv
import io
import math
import os
import re
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from iaf import catalogue
from iaf.catalogue import Indicator
from iaf.errors import InputError
from iaf.model import (
    MAX_EXAMPLES,
    Problem,
    ValidationReport,
    empty_values,
    validate_areas,
    validate_values,
)
from iaf.periods import parse_periods

__all__ = [
    "MAPPING_TARGETS",
    "MAX_BYTES",
    "LoadResult",
    "detect_format",
    "load_areas",
    "load_practice_hierarchy",
    "load_values",
    "read_table",
]

MAX_BYTES = 200 * 1024 * 1024
# A real .xlsx compresses its XML roughly 5–20:1; a ratio far beyond that is a decompression bomb.
MAX_COMPRESSION_RATIO = 100
MAX_ZIP_MEMBERS = 10_000
# csv's own default; a longer cell is not data anyone typed.
MAX_FIELD_CHARS = 131_072
DELIMITERS = (",", ";", "\t", "|")
DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}

Source = str | os.PathLike[str] | bytes | bytearray | memoryview
Format = Literal["canonical", "fingertips", "mapped"]

MAPPING_TARGETS: tuple[str, ...] = (
    "area_code",
    "period",
    "numerator",
    "denominator",
    "value",
    "indicator",
    "lower_95",
    "upper_95",
    "lower_998",
    "upper_998",
    "note",
    "area_name",
)
_CANONICAL_REQUIRED = ("area_code", "indicator", "period")

# Fingertips "data download" CSV (fingertips.phe.org.uk → Download → data for …); only the
# first four are needed to recognise one, the rest are used when present.
FT_REQUIRED = ("Indicator ID", "Area Code", "Time period", "Value")
FT_COLUMNS = {
    "area_code": "Area Code",
    "period": "Time period",
    "value": "Value",
    "lower_95": "Lower CI 95.0 limit",
    "upper_95": "Upper CI 95.0 limit",
    "lower_998": "Lower CI 99.8 limit",
    "upper_998": "Upper CI 99.8 limit",
    "numerator": "Count",
    "denominator": "Denominator",
    "note": "Value note",
    "area_name": "Area Name",
}
FT_TOTAL_SEX = "Persons"
FT_TOTAL_AGE = "All ages"
EXTRA_DOMAIN = "Other (loaded)"


# ── Reading ──────────────────────────────────────────────────────────────────────────────
def human_size(n: int) -> str:
    """``"512 bytes"``, ``"2.0 KB"``, ``"201.0 MB"``: sizes as people read them."""
    if n < 1024:
        return f"{n:,} bytes"
    if n < 1024 * 1024:
        return f"{n / 1024:,.1f} KB"
    return f"{n / 1024 / 1024:,.1f} MB"


def over_limit(n: int, limit: int) -> str:
    """``"51.0 MB, over the 50.0 MB limit"``, in bytes when rounding would make them look equal."""
    size, cap = human_size(n), human_size(limit)
    if size == cap:
        size, cap = f"{n:,} bytes", f"{limit:,}-byte"
    return f"{size}, over the {cap} limit"


def _get_bytes(source: Source, name: str, max_bytes: int) -> bytes:
    if isinstance(source, bytes | bytearray | memoryview):
        data = bytes(source)
        if len(data) > max_bytes:
            raise InputError(f"{name} is {over_limit(len(data), max_bytes)} for one file")
        return data
    path = Path(source)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise InputError(f"{name}: file not found ({path})") from None
    except OSError as exc:
        raise InputError(f"{name}: cannot be opened ({exc.strerror})") from None
    if path.is_dir():
        raise InputError(f"{name} is a folder, not a file")
    if size > max_bytes:
        raise InputError(f"{name} is {over_limit(size, max_bytes)} for one file")
    return path.read_bytes()


def _kind(data: bytes, name: str) -> str:
    lower = name.lower()
    if data.startswith(b"PK\x03\x04") or lower.endswith((".xlsx", ".xlsm")):
        return "xlsx"
    if data.startswith(b"PAR1") or lower.endswith(".parquet"):
        return "parquet"
    if data.startswith(b"\xd0\xcf\x11\xe0") or lower.endswith(".xls"):
        return "xls"
    return "csv"


def read_table(
    source: Source,
    *,
    name: str,
    sheet: str | None = None,
    max_bytes: int = MAX_BYTES,
) -> pd.DataFrame:
    """Read a CSV, Excel (.xlsx) or Parquet file as text, with ``source_row``.

    ``source`` is a path or the file's bytes (uploads arrive as bytes); ``name`` is what
    messages call it. Every column is text (``""`` for an empty cell) so ``*``, ``c`` and
    ``..`` survive; ``source_row`` is the spreadsheet row (header = row 1). Warnings that do not
    stop the read (a cp1252 guess, formula or merged cells) are in ``frame.attrs["problems"]``
    as :class:`iaf.model.Problem` objects.

    Raises :class:`InputError` for a file that is too large, empty, header-only, truncated,
    has duplicated column names, or is not one of the supported formats.
    """
    frame, problems = _read(source, name=name, sheet=sheet, max_bytes=max_bytes)
    frame.attrs["problems"] = tuple(problems)
    return frame


def _read(
    source: Source, *, name: str, sheet: str | None, max_bytes: int
) -> tuple[pd.DataFrame, list[Problem]]:
    data = _get_bytes(source, name, max_bytes)
    if not data.strip():
        raise InputError(f"{name} is empty: it has no header and no rows")
    kind = _kind(data, name)
    problems: list[Problem] = []
    if kind == "xls":
        raise InputError(
            f"{name} is an Excel 97-2003 (.xls) workbook, which is not supported: "
            "save it as .xlsx or CSV"
        )
    if kind == "xlsx":
        header, rows, row_numbers = _read_xlsx(data, name, sheet, max_bytes, problems)
    elif kind == "parquet":
        return _read_parquet(data, name), problems
    else:
        text = _decode(data, name, problems)
        header, rows, row_numbers = _read_csv_text(text, name, problems)
    return _to_frame(header, rows, row_numbers, name), problems


def _to_frame(
    header: list[str], rows: list[list[str]], row_numbers: list[int], name: str
) -> pd.DataFrame:
    header = [h.strip().lstrip("\ufeff").strip() for h in header]
    while (
        header
        and header[-1] == ""
        and all(len(r) < len(header) or r[len(header) - 1] == "" for r in rows)
    ):
        header.pop()  # trailing empty columns (a trailing delimiter, Excel's used range)
    if not header:
        raise InputError(f"{name}: the header row is blank")
    names = [h if h else f"column_{i + 1}" for i, h in enumerate(header)]
    seen: dict[str, list[int]] = {}
    for i, h in enumerate(names):
        seen.setdefault(h, []).append(i + 1)
    dups = {h: pos for h, pos in seen.items() if len(pos) > 1}
    if dups:
        parts = [
            f"{h[:60]!r} (columns {', '.join(str(p) for p in pos)})" for h, pos in dups.items()
        ]
        raise InputError(
            f"{name}: column names appear more than once: {'; '.join(parts)}; "
            "rename them so each column has one name"
        )
    if "source_row" in seen:
        raise InputError(f"{name}: 'source_row' is reserved for the row number; rename that column")
    if not rows:
        raise InputError(f"{name} has a header but no data rows")
    cols = {h: [r[i] if i < len(r) else "" for r in rows] for i, h in enumerate(names)}
    frame = pd.DataFrame(cols, dtype="str")
    frame["source_row"] = np.asarray(row_numbers, dtype="int64")
    return frame


def _decode(data: bytes, name: str, problems: list[Problem]) -> str:
    for bom, enc in (
        (codecs.BOM_UTF8, "utf-8-sig"),
        (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"),
    ):
        if data.startswith(bom):
            try:
                text = data.decode(enc)
            except UnicodeDecodeError as exc:
                raise InputError(
                    f"{name}: starts with a {enc.upper()} byte-order mark but byte "
                    f"{exc.start} is not valid {enc.upper()}"
                ) from None
            break
    else:
        if b"\x00" in data[:4096]:
            raise InputError(
                f"{name}: contains NUL bytes, so it is not a text CSV (a binary file, or "
                "UTF-16 without a byte-order mark: save it as UTF-8)"
            )
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            # Excel's "CSV" on Windows writes cp1252; latin-1 maps every byte, so it never fails.
            try:
                text = data.decode("cp1252")
                enc = "Windows-1252"
            except UnicodeDecodeError:
                text = data.decode("latin-1")
                enc = "Latin-1"
            problems.append(
                Problem(
                    "encoding",
                    f"{name} is not UTF-8 (byte {exc.start} is not valid UTF-8): read as "
                    f"{enc}; check accented names, or save it as CSV UTF-8",
                    "warning",
                )
            )
    if "\x00" in text:
        raise InputError(f"{name}: contains NUL characters, so it is not a text CSV")
    return text


def _sniff(text: str) -> str:
    """The delimiter giving the same number (>1) of fields on most of the first lines."""
    sample = text[:65536]
    lines = sample.splitlines()[:50]
    if len(sample) == 65536 and len(lines) > 1:
        lines = lines[:-1]  # the last sampled line may be cut
    best, best_score = ",", (0.0, 0)
    for d in DELIMITERS:
        try:
            rows = list(csv.reader(lines, delimiter=d))
        except csv.Error:
            continue
        rows = [r for r in rows if r]
        if not rows or len(rows[0]) < 2:
            continue
        width = len(rows[0])
        consistent = sum(len(r) == width for r in rows) / len(rows)
        score = (consistent, width)
        if score > best_score:
            best, best_score = d, score
    return best


def _read_csv_text(
    text: str, name: str, problems: list[Problem]
) -> tuple[list[str], list[list[str]], list[int]]:
    delimiter = _sniff(text)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    header: list[str] | None = None
    rows: list[list[str]] = []
    numbers: list[int] = []
    record = 0
    csv.field_size_limit(MAX_FIELD_CHARS)
    try:
        for fields in reader:
            record += 1
            if header is None:
                if not fields or all(not f.strip() for f in fields):
                    continue  # blank lines before the header
                header = fields
                header_row = record
                continue
            if not fields or (len(fields) == 1 and not fields[0].strip()):
                continue
            rows.append(fields)
            numbers.append(record - header_row + 1)
    except csv.Error as exc:
        line = reader.line_num
        msg = str(exc)
        if "unexpected end of data" in msg:
            raise InputError(
                f"{name}: line {line}: a quoted value is never closed (the file looks truncated "
                "or has a stray double quote)"
            ) from None
        if "field larger than field limit" in msg:
            raise InputError(
                f"{name}: line {line}: a cell is longer than {MAX_FIELD_CHARS:,} characters"
            ) from None
        if "expected after" in msg:
            raise InputError(
                f"{name}: line {line}: text after a closing double quote (quote the whole "
                "cell, and double any quote inside it)"
            ) from None
        raise InputError(f"{name}: line {line}: not readable as CSV ({msg})") from None
    if header is None:
        raise InputError(f"{name} is empty: it has no header and no rows")
    width = len(header)
    while (
        width > 1
        and not header[width - 1].strip()
        and all(len(r) < width or not r[width - 1].strip() for r in rows)
    ):
        width -= 1  # a trailing delimiter on every line is not a column
    header = header[:width]
    long_rows = [
        (n, r)
        for n, r in zip(numbers, rows, strict=True)
        if len(r) > width and any(f.strip() for f in r[width:])
    ]
    if long_rows:
        n, r = long_rows[0]
        more = f" (and {len(long_rows) - 1} more rows)" if len(long_rows) > 1 else ""
        raise InputError(
            f"{name}: row {n} has {len(r)} values but the header has {width} columns{more}: "
            f"an unquoted {DELIMITER_NAMES[delimiter]} inside a value?"
        )
    if rows and len(rows[-1]) < width and not text.endswith(("\n", "\r")):
        raise InputError(
            f"{name}: the last row (row {numbers[-1]}) has {len(rows[-1])} of {width} values "
            "and no line end: the file looks truncated"
        )
    short = [n for n, r in zip(numbers, rows, strict=True) if len(r) < width]
    if short:
        shown = ", ".join(str(n) for n in short[:MAX_EXAMPLES])
        more = f" and {len(short) - MAX_EXAMPLES} more" if len(short) > MAX_EXAMPLES else ""
        problems.append(
            Problem(
                "short_rows",
                f"{name}: {len(short)} rows have fewer values than the header (rows {shown}"
                f"{more}): the missing cells were read as blank",
                "warning",
                None,
                tuple(short),
            )
        )
    if delimiter != ",":
        problems.append(
            Problem(
                "delimiter",
                f"{name}: values are separated by {DELIMITER_NAMES[delimiter]}s",
                "info",
            )
        )
    return header, rows, numbers


def _check_zip(data: bytes, name: str, max_bytes: int) -> None:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, ValueError, OSError):
        raise InputError(
            f"{name} is not a valid .xlsx workbook (the zip container is damaged)"
        ) from None
    if len(infos) > MAX_ZIP_MEMBERS:
        raise InputError(
            f"{name}: the workbook holds {len(infos):,} parts, too many for a workbook"
        )
    total = sum(i.file_size for i in infos)
    if total > max_bytes:
        raise InputError(f"{name}: the workbook unpacks to {over_limit(total, max_bytes)}")
    for info in infos:
        ratio = info.file_size / max(info.compress_size, 1)
        if ratio > MAX_COMPRESSION_RATIO and info.file_size > 1024 * 1024:
            raise InputError(
                f"{name}: part {info.filename} would unpack to {human_size(info.file_size)}, "
                f"more than {MAX_COMPRESSION_RATIO} times its packed size: refused as a likely "
                "decompression bomb"
            )


def _cell_text(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "TRUE" if v else "FALSE"
    if isinstance(v, float):
        if math.isfinite(v) and v.is_integer() and abs(v) < 1e15:
            return str(int(v))
        return repr(v)
    return str(v)


def _read_xlsx(
    data: bytes, name: str, sheet: str | None, max_bytes: int, problems: list[Problem]
) -> tuple[list[str], list[list[str]], list[int]]:
    import openpyxl

    _check_zip(data, name, max_bytes)
    try:
        wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for damaged workbooks
        raise InputError(
            f"{name} could not be opened as an .xlsx workbook ({type(exc).__name__})"
        ) from None
    try:
        names = wb.sheetnames
        if sheet is None:
            if len(names) != 1:
                raise InputError(
                    f"{name} has {len(names)} sheets ({', '.join(names)}): say which one to read"
                )
            sheet = names[0]
        elif sheet not in names:
            raise InputError(f"{name} has no sheet {sheet!r}; its sheets are: {', '.join(names)}")
        ws = wb[sheet]
        raw = [
            (r, [_cell_text(v) for v in values])
            for r, values in enumerate(ws.iter_rows(values_only=True), start=1)
        ]
        ws_path = getattr(ws, "_worksheet_path", None)
    except InputError:
        raise
    except Exception as exc:
        raise InputError(
            f"{name}: sheet {sheet!r} could not be read ({type(exc).__name__})"
        ) from None
    finally:
        wb.close()
    raw = [(r, v) for r, v in raw if any(c.strip() for c in v)]
    if not raw:
        raise InputError(f"{name}: sheet {sheet!r} is empty")
    header_row, header = raw[0]
    rows = [v for _, v in raw[1:]]
    numbers = [r - header_row + 1 for r, _ in raw[1:]]
    formulas = _formula_cells(data, sheet)
    if formulas:
        shown = ", ".join(formulas[:MAX_EXAMPLES])
        more = f" and {len(formulas) - MAX_EXAMPLES} more" if len(formulas) > MAX_EXAMPLES else ""
        problems.append(
            Problem(
                "formula",
                f"{name} sheet {sheet!r}: {len(formulas)} cells hold formulas ({shown}{more}): "
                "their last calculated values were read (blank if never calculated)",
                "warning",
            )
        )
    merged = _merged_ranges(data, ws_path)
    if merged:
        shown = ", ".join(merged[:MAX_EXAMPLES])
        more = f" and {len(merged) - MAX_EXAMPLES} more" if len(merged) > MAX_EXAMPLES else ""
        problems.append(
            Problem(
                "merged_cells",
                f"{name} sheet {sheet!r}: merged cells ({shown}{more}): only the first cell of "
                "each holds the value, the others were read as blank",
                "warning",
            )
        )
    return header, rows, numbers


def _formula_cells(data: bytes, sheet: str) -> list[str]:
    import openpyxl

    wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=False)
    try:
        found = []
        for row in wb[sheet].iter_rows():
            for cell in row:
                if getattr(cell, "data_type", None) == "f":
                    found.append(cell.coordinate)
        return found
    finally:
        wb.close()


_MERGE = re.compile(rb'<(?:\w+:)?mergeCell\s+ref="([A-Za-z0-9:$]+)"')


def _merged_ranges(data: bytes, ws_path: str | None) -> list[str]:
    if not ws_path:
        return []
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        try:
            xml = zf.read(ws_path.lstrip("/"))
        except KeyError:
            return []
    return [m.decode() for m in _MERGE.findall(xml)]


def _read_parquet(data: bytes, name: str) -> pd.DataFrame:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(io.BytesIO(data))
    except (pa.ArrowException, OSError, ValueError):
        raise InputError(f"{name} is not a readable Parquet file") from None
    frame = table.to_pandas()
    if "source_row" in frame:
        raise InputError(f"{name}: 'source_row' is reserved for the row number; rename that column")
    if frame.columns.duplicated().any():
        dup = sorted(set(frame.columns[frame.columns.duplicated()]))
        raise InputError(f"{name}: column names appear more than once: {', '.join(dup)}")
    if frame.empty:
        raise InputError(f"{name} has a header but no data rows")
    out = pd.DataFrame(
        {str(c).strip(): _text_column(frame[c]) for c in frame.columns}, index=frame.index
    ).reset_index(drop=True)
    out["source_row"] = np.arange(2, len(out) + 2, dtype="int64")
    return out


def _text_column(s: pd.Series) -> pd.Series:
    if pd.api.types.is_float_dtype(s):
        vals = [_cell_text(v) if pd.notna(v) else "" for v in s.to_numpy(dtype="float64")]
        return pd.Series(vals, index=s.index, dtype="str")
    return s.astype("str").where(s.notna(), "")


# ── Formats ──────────────────────────────────────────────────────────────────────────────
def _norm(col: str) -> str:
    return re.sub(r"\s+", " ", str(col)).strip().lower()


def detect_format(frame: pd.DataFrame) -> Format:
    """Which layout a text frame has.

    ``"canonical"``: our own columns (area_code, indicator, period and value or numerator and
    denominator); ``"fingertips"``: a Fingertips data download (Indicator ID, Area Code, Time
    period, Value; optional columns may be missing); ``"mapped"``: anything else, which needs a
    column mapping.
    """
    cols = {_norm(c) for c in frame.columns}
    if {_norm(c) for c in FT_REQUIRED} <= cols:
        return "fingertips"
    if set(_CANONICAL_REQUIRED) <= cols and (
        "value" in cols or {"numerator", "denominator"} <= cols
    ):
        return "canonical"
    return "mapped"


def _column_lookup(frame: pd.DataFrame) -> dict[str, str]:
    return {_norm(c): c for c in frame.columns if c != "source_row"}


def _columns_list(frame: pd.DataFrame) -> str:
    cols = [c for c in frame.columns if c != "source_row"]
    shown = ", ".join(repr(c[:60]) for c in cols[:40])
    return shown + (f" and {len(cols) - 40} more" if len(cols) > 40 else "")


def _apply_mapping(frame: pd.DataFrame, mapping: Mapping[str, Any], name: str) -> pd.DataFrame:
    unknown = [t for t in mapping if t not in MAPPING_TARGETS]
    if unknown:
        raise InputError(
            f"{name}: mapping target(s) {', '.join(repr(t) for t in unknown)} are not known; "
            f"targets are: {', '.join(MAPPING_TARGETS)}"
        )
    lookup = _column_lookup(frame)
    out: dict[str, Any] = {"source_row": frame["source_row"]}
    for target, spec in mapping.items():
        if isinstance(spec, Mapping):
            if set(spec) != {"fixed"}:
                raise InputError(
                    f"{name}: mapping for {target!r} must be a column name or {{'fixed': value}}"
                )
            out[target] = pd.Series(str(spec["fixed"]), index=frame.index, dtype="str")
            continue
        if not isinstance(spec, str):
            raise InputError(f"{name}: mapping for {target!r} must be a column name, not {spec!r}")
        column = spec if spec in frame.columns else lookup.get(_norm(spec))
        if column is None or column == "source_row":
            raise InputError(
                f"{name}: mapping {target!r} → column {spec!r}, but the file has no such "
                f"column; its columns are: {_columns_list(frame)}"
            )
        out[target] = frame[column]
    missing = [t for t in _CANONICAL_REQUIRED if t not in out]
    if missing:
        hint = {"period": "{'fixed': '2016/17 Q1'}", "indicator": "{'fixed': '123a'}"}
        parts = [f"{t!r} (a column, or {hint[t]})" if t in hint else repr(t) for t in missing]
        raise InputError(
            f"{name}: the mapping gives no {', '.join(parts)}; the file's columns are: "
            f"{_columns_list(frame)}"
        )
    if "value" not in out and not {"numerator", "denominator"} <= set(out):
        raise InputError(
            f"{name}: the mapping needs 'value', or 'numerator' and 'denominator'; the file's "
            f"columns are: {_columns_list(frame)}"
        )
    return pd.DataFrame(out)


def _canonical(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    lookup = _column_lookup(frame)
    present = {t: lookup[t] for t in MAPPING_TARGETS if t in lookup}
    if not set(_CANONICAL_REQUIRED) <= set(present) or not (
        "value" in present or {"numerator", "denominator"} <= set(present)
    ):
        raise InputError(
            f"{name}: not in the canonical layout (needs area_code, indicator, period and "
            f"value or numerator and denominator); its columns are: {_columns_list(frame)}"
        )
    return _apply_mapping(frame, present, name)


@dataclass(frozen=True)
class LoadResult:
    """Values loaded from one file, what happened to every row, and what else the file held."""

    values: pd.DataFrame
    report: ValidationReport
    extra_indicators: tuple[Indicator, ...] = ()
    areas: pd.DataFrame | None = None


def _set_aside(
    raw: pd.DataFrame, mask: pd.Series, reason: str, parked: list[pd.DataFrame]
) -> pd.DataFrame:
    if mask.any():
        gone = raw.loc[mask].copy()
        gone.insert(0, "reason", reason)
        gone.insert(0, "row", gone["source_row"].to_numpy())
        parked.append(gone.drop(columns="source_row"))
    return raw.loc[~mask]


def _fingertips(
    frame: pd.DataFrame,
    name: str,
    indicator_map: Mapping[str, str] | None,
    problems: list[Problem],
    parked: list[pd.DataFrame],
) -> tuple[pd.DataFrame, tuple[Indicator, ...], pd.DataFrame]:
    lookup = _column_lookup(frame)
    col = {k: lookup[_norm(v)] for k, v in FT_COLUMNS.items() if _norm(v) in lookup}
    ids = frame[lookup[_norm("Indicator ID")]].str.strip()
    imap = {str(k).strip(): v for k, v in (indicator_map or {}).items()}
    raw = _apply_mapping(frame, {**col, "indicator": lookup[_norm("Indicator ID")]}, name)
    # A file whose Indicator ID is already an IAF code (101a …) is that indicator.
    raw["indicator"] = ids.map(
        lambda i: imap.get(i, i if catalogue.is_known(i) else (f"FT{i}" if i else ""))
    )
    extras_meta = frame.assign(_ind=raw["indicator"])

    # Breakdowns (by sex, age, deprivation …) are other series, not the area's value.
    breakdown = pd.Series(False, index=frame.index)
    why = pd.Series("", index=frame.index, dtype="str")
    if _norm("Category Type") in lookup:
        cat = frame[lookup[_norm("Category Type")]].str.strip()
        hit = cat != ""
        why = why.mask(hit & (why == ""), "breakdown: category " + cat)
        breakdown |= hit
    for label, total in (("Sex", FT_TOTAL_SEX), ("Age", FT_TOTAL_AGE)):
        if _norm(label) not in lookup:
            continue
        s = frame[lookup[_norm(label)]].str.strip()
        # Only where the file has totals: a file of one age band is that band's series.
        has_total = (s.str.lower() == total.lower()).groupby(raw["indicator"]).transform("any")
        hit = has_total & (s.str.lower() != total.lower()) & (s != "")
        why = why.mask(hit & (why == ""), f"breakdown: {label.lower()} " + s)
        breakdown |= hit
    if breakdown.any():
        n = int(breakdown.sum())
        problems.append(
            Problem(
                "breakdown",
                f"{name}: {n} breakdown rows (by category, sex or age) were set aside; only "
                "totals (Persons, All ages, no category) are loaded; they are listed with the "
                "rejected rows",
                "warning",
                None,
                tuple(int(r) for r in raw.loc[breakdown, "source_row"]),
            )
        )
        for reason in sorted(set(why[breakdown])):
            raw = _set_aside(
                raw, (why == reason).reindex(raw.index, fill_value=False), reason, parked
            )

    # Comparator rows (England, regions) share the file with the areas; keep the main type.
    if _norm("Area Type") in lookup:
        atype = frame[lookup[_norm("Area Type")]].str.strip().reindex(raw.index)
        if atype.nunique() > 1:
            main = atype.value_counts().idxmax()
            other = atype != main
            kinds = ", ".join(sorted(set(atype[other])))
            problems.append(
                Problem(
                    "comparator_rows",
                    f"{name}: {int(other.sum())} rows for other area types ({kinds}) were set "
                    f"aside; the {main} rows are loaded",
                    "warning",
                    None,
                    tuple(int(r) for r in raw.loc[other, "source_row"]),
                )
            )
            for kind in sorted(set(atype[other])):
                raw = _set_aside(
                    raw,
                    (atype == kind).reindex(raw.index, fill_value=False),
                    f"area type {kind} (a comparator, not a {main} row)",
                    parked,
                )

    extras = _guess_extras(raw, extras_meta, lookup)
    areas = _areas_from(frame.loc[raw.index], lookup, raw["area_code"])
    return raw.drop(columns=["area_name"], errors="ignore"), extras, areas


def _guess_extras(
    raw: pd.DataFrame, meta: pd.DataFrame, lookup: dict[str, str]
) -> tuple[Indicator, ...]:
    extras = []
    name_col = lookup.get(_norm("Indicator Name"))
    for code in sorted(set(raw["indicator"])):
        if not code.startswith("FT") or catalogue.is_known(code):
            continue
        rows = raw.loc[raw["indicator"] == code]
        title = code
        if name_col:
            names = meta.loc[rows.index, name_col].str.strip()
            names = names[names != ""]
            if len(names):
                title = str(names.iloc[0])
        num = pd.to_numeric(rows.get("numerator"), errors="coerce") if "numerator" in rows else None
        den = (
            pd.to_numeric(rows.get("denominator"), errors="coerce")
            if "denominator" in rows
            else None
        )
        val = pd.to_numeric(rows["value"], errors="coerce") if "value" in rows else None
        both = (num.notna() & den.notna()) if num is not None and den is not None else None
        if both is None or not both.any():
            vtype, mult = "score", 1.0
        elif (num[both] <= den[both]).all() and (val is None or (val.dropna() <= 100).all()):
            vtype, mult = "proportion", 100.0
        else:
            vtype, mult = "rate", 1.0
            ok = both & (num > 0) & (den > 0) & (val.notna() if val is not None else False)
            if ok.any():
                ratio = (val[ok] / (num[ok] / den[ok])).median()
                if ratio > 0 and math.isfinite(ratio):
                    mult = float(10 ** round(math.log10(ratio)))
        extras.append(
            Indicator(
                code=code,
                name=title,
                short_name=title[:60],
                domain=EXTRA_DOMAIN,
                area="Other",
                clinical_priority=None,
                value_type=vtype,
                unit="%" if vtype == "proportion" else (f"per {mult:,.0f}" if mult > 1 else ""),
                multiplier=mult,
                polarity="no_judgement",
                frequency=_guess_frequency(rows["period"]),
                definition=f"Loaded from a Fingertips download (indicator ID {code[2:]}).",
            )
        )
    return tuple(extras)


def _guess_frequency(periods: pd.Series) -> str:
    parsed = parse_periods(periods)
    kinds = parsed.loc[parsed["error"] == "", "period_type"]
    if kinds.empty:
        return "annual"
    kind = kinds.value_counts().idxmax()
    if kind == "range":
        spans = parsed.loc[parsed["period_type"] == "range"]
        days = (spans["period_end"] - spans["period_start"]).dt.days.median()
        step = spans["period_end"].drop_duplicates().sort_values().diff().dt.days.median()
        return "rolling_12m" if 360 <= days <= 370 and (pd.isna(step) or step < 200) else "annual"
    return "quarterly" if kind in {"quarter", "month"} else "annual"


def _areas_from(
    frame: pd.DataFrame, lookup: dict[str, str], codes: pd.Series
) -> pd.DataFrame | None:
    cols: dict[str, pd.Series] = {"code": codes.str.strip()}
    for target, header in (
        ("name", "Area Name"),
        ("parent", "Parent Code"),
        ("type", "Area Type"),
        ("area_name", "area_name"),
    ):
        if _norm(header) in lookup:
            cols["name" if target == "area_name" else target] = frame[lookup[_norm(header)]]
    if len(cols) == 1:
        return None
    table = pd.DataFrame(cols)
    table = table.loc[table["code"] != ""].drop_duplicates("code")
    if "type" in table:
        kind = table["type"].str.strip().str.lower()
        # Fingertips names CCG-like types "CCGs (from Apr 2021)", "Sub-ICB, former CCGs" …
        table["type"] = kind.mask(kind.str.contains("ccg|sub-icb", regex=True), "ccg")
    return validate_areas(table, source="areas in file")


def load_values(
    source: Source,
    *,
    name: str,
    format: str = "auto",
    mapping: Mapping[str, Any] | None = None,
    sheet: str | None = None,
    indicators: Mapping[str, Indicator] | None = None,
    area_codes: Iterable[str] | None = None,
    indicator_map: Mapping[str, str] | None = None,
    max_bytes: int = MAX_BYTES,
) -> LoadResult:
    """Load one values file: read, recognise its layout, map, validate.

    ``format`` is ``"auto"`` (detect), ``"canonical"``, ``"fingertips"`` or ``"mapped"``; a
    ``mapping`` (target → column, or ``{"fixed": value}``) implies ``"mapped"``. ``indicators``
    are the codes allowed (default: the IAF catalogue, plus extras found in a Fingertips file);
    ``area_codes`` the known areas; ``indicator_map`` re-codes indicators (e.g. Fingertips
    ``{"90799": "123a"}``). Every input row is either loaded or listed in
    ``report.rejected`` with its reason.
    """
    if format not in {"auto", "canonical", "fingertips", "mapped"}:
        raise InputError(
            f"{name}: format {format!r} is not one of auto, canonical, fingertips, mapped"
        )
    frame, problems = _read(source, name=name, sheet=sheet, max_bytes=max_bytes)
    fmt = "mapped" if mapping else (detect_format(frame) if format == "auto" else format)
    parked: list[pd.DataFrame] = []
    extras: tuple[Indicator, ...] = ()
    areas = None
    if fmt == "fingertips":
        if not {_norm(c) for c in FT_REQUIRED} <= set(_column_lookup(frame)):
            raise InputError(
                f"{name}: not a Fingertips download (needs {', '.join(FT_REQUIRED)}); its "
                f"columns are: {_columns_list(frame)}"
            )
        raw, extras, areas = _fingertips(frame, name, indicator_map, problems, parked)
    elif fmt == "canonical":
        raw = _canonical(frame, name)
    elif mapping:
        raw = _apply_mapping(frame, mapping, name)
    else:
        raise InputError(
            f"{name}: columns not recognised as the canonical or Fingertips layout; give a "
            f"mapping (area_code, period, indicator, numerator, denominator or value); its "
            f"columns are: {_columns_list(frame)}"
        )
    if fmt != "fingertips" and indicator_map:
        imap = {str(k): v for k, v in indicator_map.items()}
        raw["indicator"] = raw["indicator"].map(lambda i: imap.get(str(i).strip(), i))
    if fmt != "fingertips" and "area_name" in raw:
        areas = _areas_from(
            raw.rename(columns={"area_name": "Area Name"}),
            {_norm("Area Name"): "Area Name"},
            raw["area_code"],
        )
    raw = raw.drop(columns=["area_name"], errors="ignore")

    known = dict(indicators) if indicators is not None else {i.code: i for i in catalogue.CATALOGUE}
    known.update({i.code: i for i in extras})
    if raw.empty:  # every row was set aside (all breakdowns, say): nothing to validate
        values = empty_values()
        report = ValidationReport(source=name, n_input_rows=0, n_loaded=0)
    else:
        values, report = validate_values(raw, source=name, indicators=known, area_codes=area_codes)
    rejected = (
        pd.concat([*parked, report.rejected], ignore_index=True) if parked else report.rejected
    )
    if len(rejected):
        rejected = rejected.sort_values("row", kind="stable").reset_index(drop=True)
    report = ValidationReport(
        source=name,
        n_input_rows=len(frame),
        n_loaded=len(values),
        problems=tuple(p for p in problems if p.severity != "info") + report.problems,
        rejected=rejected,
    )
    used = set(values["indicator"].astype(str))
    return LoadResult(
        values=values,
        report=report,
        extra_indicators=tuple(i for i in extras if i.code in used),
        areas=areas,
    )


# ── Areas ────────────────────────────────────────────────────────────────────────────────
_ODS = re.compile(r"^(?:[0-9][0-9A-Z]{2}|[0-9A-Z]{3}|[A-Z][0-9A-Z]{4})$")
_ONS = re.compile(r"^[EWSN]\d{8}$")
_NAME_COL = re.compile(r"(?:^|[^a-z])(nm|name)$|^ccg\d{2}nm$|^area name$", re.IGNORECASE)
AREA_TARGETS = (
    "code",
    "name",
    "ons_code",
    "type",
    "parent",
    "region",
    "stp",
    "population",
    "peers",
)


def _share(series: pd.Series, pattern: re.Pattern[str]) -> float:
    s = series.str.strip()
    s = s[s != ""]
    return float(s.str.fullmatch(pattern.pattern).mean()) if len(s) else 0.0


def load_areas(
    source: Source,
    *,
    name: str,
    mapping: Mapping[str, str] | None = None,
    max_bytes: int = MAX_BYTES,
) -> pd.DataFrame:
    """Load an area lookup (codes, names, peers …) as the canonical areas table.

    Without a ``mapping`` (target → column, targets: code, name, ons_code, type, parent,
    region, stp, population, peers) the code column is found from the values: a column of
    unique ODS codes (``00C``, ``D4U1Y``) is preferred as ``code``, and a column of ONS codes
    (``E38000001``) is kept as ``ons_code``. RightCare ``similar_ccg_1..10`` columns become
    ``peers`` (``;``-separated, in order). Files over ``max_bytes`` are refused.
    """
    frame = read_table(source, name=name, max_bytes=max_bytes)
    lookup = _column_lookup(frame)
    cols: dict[str, str] = {}
    if mapping:
        bad = [t for t in mapping if t not in AREA_TARGETS]
        if bad:
            raise InputError(
                f"{name}: mapping target(s) {', '.join(map(repr, bad))} are not known; targets "
                f"are: {', '.join(AREA_TARGETS)}"
            )
        for target, column in mapping.items():
            real = column if column in frame.columns else lookup.get(_norm(column))
            if real is None:
                raise InputError(
                    f"{name}: mapping {target!r} → column {column!r}, but the file has no such "
                    f"column; its columns are: {_columns_list(frame)}"
                )
            cols[target] = real
    else:
        cols = _guess_area_columns(frame, name)
    if "code" not in cols:
        raise InputError(
            f"{name}: no column of area codes found (ODS codes like 00C or ONS codes like "
            f"E38000001); give a mapping; its columns are: {_columns_list(frame)}"
        )
    out = pd.DataFrame({t: frame[c].str.strip() for t, c in cols.items()})
    peer_cols = sorted(
        (c for c in frame.columns if re.fullmatch(r"similar_ccg_\d+", _norm(c))),
        key=lambda c: int(re.findall(r"\d+", c)[-1]),
    )
    if peer_cols and "peers" not in out:
        out["peers"] = (
            frame[peer_cols]
            .apply(lambda col: col.str.strip())
            .apply(lambda r: ";".join(v for v in r if v), axis=1)
            .astype("str")
        )
    return validate_areas(out, source=name)


def _guess_area_columns(frame: pd.DataFrame, name: str) -> dict[str, str]:
    cols: dict[str, str] = {}
    best_ods: tuple[float, str] | None = None
    best_ons: tuple[float, str] | None = None
    for c in frame.columns:
        if c == "source_row" or re.fullmatch(r"similar_ccg_\d+", _norm(c)):
            continue
        s = frame[c]
        unique = s.str.strip().is_unique
        ods, ons = _share(s, _ODS), _share(s, _ONS)
        # A code column named for a later vintage is still the file's own column.
        if unique and ods >= 0.9 and (best_ods is None or ods > best_ods[0]):
            best_ods = (ods, c)
        if unique and ons >= 0.9 and (best_ons is None or ons > best_ons[0]):
            best_ons = (ons, c)
    if best_ods:
        cols["code"] = best_ods[1]
        if best_ons:
            cols["ons_code"] = best_ons[1]
    elif best_ons:
        cols["code"] = best_ons[1]
    for c in frame.columns:
        n = _norm(c)
        if c in cols.values() or c == "source_row":
            continue
        if (
            "name" not in cols
            and _NAME_COL.search(n)
            and not n.startswith(("stp", "nhser", "region", "parent"))
        ):
            cols["name"] = c
        elif "stp" not in cols and re.fullmatch(r"stp\d*\s*(nm|name)", n):
            cols["stp"] = c
        elif "region" not in cols and re.fullmatch(r"(nhser\d*\s*(nm|name)|region( name)?)", n):
            cols["region"] = c
        elif "population" not in cols and n in {
            "population",
            "all ages",
            "ccg population",
            "total_list_size",
        }:
            cols["population"] = c
    return cols


def load_practice_hierarchy(path: Source, *, name: str | None = None) -> pd.DataFrame:
    """Practices → CCG / sub-ICB location (``parent``, ODS code; ``parent_name``), with region
    and STP/ICB names.

    Reads NHS Digital's QOF "NHS geographies" mapping (as Parquet or CSV, any year 2019-20 …
    2022-23: the commissioner column was renamed from CCG to sub-ICB location over time).
    """
    label = name or (
        Path(path).name
        if not isinstance(path, bytes | bytearray | memoryview)
        else "practice hierarchy"
    )
    frame = read_table(path, name=label)
    lookup = _column_lookup(frame)

    def first(*candidates: str) -> str | None:
        return next((lookup[c.lower()] for c in candidates if c.lower() in lookup), None)

    code = first("PRACTICE_CODE")
    parent = first("SUB_ICB_LOC_ODS_CODE", "SUB_ICB_ODS_CODE", "CCG_ODS_CODE")
    if code is None or parent is None:
        raise InputError(
            f"{label}: not a practice hierarchy (needs PRACTICE_CODE and CCG_ODS_CODE or "
            f"SUB_ICB_…_ODS_CODE); its columns are: {_columns_list(frame)}"
        )
    out = pd.DataFrame(
        {
            "code": frame[code],
            "name": frame[first("PRACTICE_NAME") or code],
            "type": "practice",
            "parent": frame[parent].str.strip(),
            "region": frame[first("REGION_NAME") or parent] if first("REGION_NAME") else "",
            "stp": frame[s] if (s := first("ICB_NAME", "STP_NAME")) else "",
        }
    )
    if parent_name := first("SUB_ICB_LOC_NAME", "SUB_ICB_NAME", "CCG_NAME"):
        out["parent_name"] = frame[parent_name]
    if pcn := first("PCN_ODS_CODE"):
        out["pcn"] = frame[pcn]
    return validate_areas(out, source=label)
