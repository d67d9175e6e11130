"""Typed, sortable time periods as English health indicators publish them.

Labels follow Fingertips' conventions so published files load as they are:

==================  =========================  ===========================================
kind                label                      covers
==================  =========================  ===========================================
``quarter``         ``2016/17 Q1``             financial quarter (Q1 = April–June)
``year``            ``2016/17``                financial year (1 April – 31 March)
``month``           ``2017-01`` / ``Jan 2017`` calendar month
``calendar_year``   ``2016``                   calendar year
``range``           ``2015/16 Q2 - 2016/17 Q1``  a rolling or multi-period window, first to last
                    ``2014 - 16``
==================  =========================  ===========================================

Every label parses to a :class:`Period` with start and end dates; periods sort by end date, then
by start date (so a 12-month window ending in Q1 sorts with Q1).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd

from iaf.errors import InputError

MONTHS = {
    m: i + 1
    for i, m in enumerate(
        ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
    )
}
MONTH_ABBR = {v: k.title() for k, v in MONTHS.items()}

_FQ = re.compile(r"^(\d{4})/(\d{2})\s*Q([1-4])$", re.IGNORECASE)
_FY = re.compile(r"^(\d{4})/(\d{2})$")
_ISO_MONTH = re.compile(r"^(\d{4})-(\d{2})(?:-01)?(?:[ T]00:00(?::00)?)?$")
_NAMED_MONTH = re.compile(r"^([A-Za-z]{3})[a-z]*\.?\s+(\d{4})$")
_CY = re.compile(r"^(\d{4})$")
_SHORT_CY_RANGE = re.compile(r"^(\d{4})\s*-\s*(\d{2})$")


@dataclass(frozen=True, slots=True, order=False)
class Period:
    """One period: its canonical label, kind and the dates it covers (inclusive)."""

    label: str
    kind: str
    start: date
    end: date

    @property
    def sort_key(self) -> tuple[date, date]:
        return (self.end, self.start)

    def __lt__(self, other: Period) -> bool:
        return self.sort_key < other.sort_key


def _month_end(year: int, month: int) -> date:
    nxt = date(year + (month == 12), month % 12 + 1, 1)
    return nxt - timedelta(days=1)


def _fy_start_year(first: str, second: str) -> int:
    start = int(first)
    if (start + 1) % 100 != int(second):
        raise ValueError(
            f"{first}/{second} is not a financial year (the years must be consecutive)"
        )
    return start


def financial_quarter(year: int, quarter: int) -> Period:
    """The financial quarter ``quarter`` (1–4) of the year starting 1 April ``year``."""
    month = 4 + 3 * (quarter - 1)
    y = year + (month > 12)
    m = (month - 1) % 12 + 1
    start = date(y, m, 1)
    end_m = m + 2
    end = _month_end(y, end_m)
    return Period(f"{year}/{(year + 1) % 100:02d} Q{quarter}", "quarter", start, end)


def financial_year(year: int) -> Period:
    return Period(f"{year}/{(year + 1) % 100:02d}", "year", date(year, 4, 1), date(year + 1, 3, 31))


def month(year: int, month_number: int) -> Period:
    return Period(
        f"{year}-{month_number:02d}",
        "month",
        date(year, month_number, 1),
        _month_end(year, month_number),
    )


def _parse_single(text: str) -> Period:
    if m := _FQ.match(text):
        return financial_quarter(_fy_start_year(m[1], m[2]), int(m[3]))
    if m := _FY.match(text):
        return financial_year(_fy_start_year(m[1], m[2]))
    if m := _ISO_MONTH.match(text):
        mm = int(m[2])
        if not 1 <= mm <= 12:
            raise ValueError(f"month {mm} is not 1–12")
        return month(int(m[1]), mm)
    if m := _NAMED_MONTH.match(text):
        mm = MONTHS.get(m[1].lower())
        if mm is None:
            raise ValueError(f"{m[1]!r} is not a month name")
        return month(int(m[2]), mm)
    if m := _CY.match(text):
        y = int(m[1])
        return Period(str(y), "calendar_year", date(y, 1, 1), date(y, 12, 31))
    raise ValueError("not a recognised period")


def parse_period(text: object) -> Period:
    """Parse one period label, raising ``ValueError`` with the reason if it is not one.

    >>> parse_period("2016/17 Q1").end
    datetime.date(2016, 6, 30)
    """
    if not isinstance(text, str):
        if isinstance(text, pd.Timestamp | date):
            ts = pd.Timestamp(text)
            return month(ts.year, ts.month)
        raise ValueError(f"{text!r} is not a period label")
    label = " ".join(text.strip().split())
    if not label:
        raise ValueError("blank period")
    # "2017-06" is June 2017 (ISO month); Fingertips writes the 3-year range as "2014 - 16".
    if (m := _SHORT_CY_RANGE.match(label)) and not (
        "-" in label and " " not in label and 1 <= int(m[2]) <= 12
    ):
        first = int(m[1])
        last = first // 100 * 100 + int(m[2])
        if last <= first:
            if " " not in label:
                raise ValueError(
                    f"{label!r} is neither a month ({m[2]} is not 1–12) nor a range of years"
                )
            raise ValueError(f"{label!r}: the range ends before it starts")
        return Period(f"{first} - {m[2]}", "range", date(first, 1, 1), date(last, 12, 31))
    if " - " in label:
        left, right = (part.strip() for part in label.split(" - ", 1))
        a, b = _parse_single(left), _parse_single(right)
        if b.end < a.start:
            raise ValueError(f"{label!r}: the range ends before it starts")
        return Period(f"{a.label} - {b.label}", "range", a.start, b.end)
    return _parse_single(label)


def rolling_12m_label(quarter_end: Period) -> str:
    """The Fingertips label of the 12 months ending with a financial quarter."""
    if quarter_end.kind != "quarter":
        raise ValueError("a rolling 12-month window is labelled by the quarter it ends with")
    year, q = int(quarter_end.label[:4]), int(quarter_end.label[-1])
    first_year, first_q = (year - 1, q + 1) if q < 4 else (year, 1)
    return f"{financial_quarter(first_year, first_q).label} - {quarter_end.label}"


def parse_periods(values: pd.Series) -> pd.DataFrame:
    """Parse a column of labels; one row per input with period, kind, start, end and error.

    Parsing is done once per distinct label, so a 7-million-row column with 20 quarters costs
    20 parses. ``error`` is empty where the label parsed.
    """
    codes, uniques = pd.factorize(values.astype("string"), use_na_sentinel=True)
    parsed_rows = []
    for u in uniques:
        try:
            p = parse_period(u)
            parsed_rows.append((p.label, p.kind, p.start, p.end, ""))
        except ValueError as exc:
            parsed_rows.append((None, None, None, None, str(exc)))
    table = pd.DataFrame(parsed_rows, columns=["period", "period_type", "start", "end", "error"])
    table = pd.concat(
        [table, pd.DataFrame([{"error": "blank period"}])], ignore_index=True
    )  # the sentinel row for missing labels (code -1)
    take = np.where(codes < 0, len(table) - 1, codes)
    out = table.iloc[take].reset_index(drop=True)
    out["period_start"] = pd.to_datetime(out.pop("start"))
    out["period_end"] = pd.to_datetime(out.pop("end"))
    out.index = values.index
    return out


def sort_labels(labels: list[str] | pd.Index | np.ndarray) -> list[str]:
    """Labels in time order (by end date, then start date)."""
    return sorted(labels, key=lambda lab: parse_period(lab).sort_key)


def assert_one_kind(kinds: pd.Series, where: str) -> None:
    """Refuse a column that mixes period kinds within one indicator (e.g. quarters and months)."""
    found = sorted(set(kinds.dropna()))
    if len(found) > 1:
        raise InputError(
            f"{where} mixes period formats ({', '.join(found)}): use one kind of period per "
            "indicator"
        )
