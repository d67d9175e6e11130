"""Periods: every label kind, canonical labels, errors, sorting, rolling 12-month labels."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from iaf.errors import InputError
from iaf.periods import (
    Period,
    assert_one_kind,
    financial_quarter,
    financial_year,
    parse_period,
    parse_periods,
    rolling_12m_label,
    sort_labels,
)

LABELS = [
    ("2016/17 Q1", "2016/17 Q1", "quarter", date(2016, 4, 1), date(2016, 6, 30)),
    ("2016/17 q4", "2016/17 Q4", "quarter", date(2017, 1, 1), date(2017, 3, 31)),
    ("2016/17Q3", "2016/17 Q3", "quarter", date(2016, 10, 1), date(2016, 12, 31)),
    ("2099/00 Q2", "2099/00 Q2", "quarter", date(2099, 7, 1), date(2099, 9, 30)),
    ("2016/17", "2016/17", "year", date(2016, 4, 1), date(2017, 3, 31)),
    ("2017-01", "2017-01", "month", date(2017, 1, 1), date(2017, 1, 31)),
    ("2017-06", "2017-06", "month", date(2017, 6, 1), date(2017, 6, 30)),
    ("2016-02-01", "2016-02", "month", date(2016, 2, 1), date(2016, 2, 29)),
    ("2017-12-01 00:00:00", "2017-12", "month", date(2017, 12, 1), date(2017, 12, 31)),
    ("Jan 2017", "2017-01", "month", date(2017, 1, 1), date(2017, 1, 31)),
    ("September 2017", "2017-09", "month", date(2017, 9, 1), date(2017, 9, 30)),
    ("2016", "2016", "calendar_year", date(2016, 1, 1), date(2016, 12, 31)),
    ("2014 - 16", "2014 - 16", "range", date(2014, 1, 1), date(2016, 12, 31)),
    ("2014-16", "2014 - 16", "range", date(2014, 1, 1), date(2016, 12, 31)),
    ("2015/16 Q2 - 2016/17 Q1", "2015/16 Q2 - 2016/17 Q1", "range", date(2015, 7, 1),
     date(2016, 6, 30)),
    ("  2016/17   Q1  ", "2016/17 Q1", "quarter", date(2016, 4, 1), date(2016, 6, 30)),
]  # fmt: skip


@pytest.mark.parametrize(("text", "label", "kind", "start", "end"), LABELS,
                         ids=[x[0].strip() for x in LABELS])  # fmt: skip
def test_parse_period(text: str, label: str, kind: str, start: date, end: date) -> None:
    assert parse_period(text) == Period(label, kind, start, end)


def test_parse_timestamp() -> None:
    assert parse_period(pd.Timestamp("2017-03-15")).label == "2017-03"


@pytest.mark.parametrize(
    ("text", "message"),
    [("", "blank period"),
     ("2016/18", "2016/18 is not a financial year (the years must be consecutive)"),
     ("2017-13", "'2017-13' is neither a month (13 is not 1–12) nor a range of years"),
     ("2017-13-01", "month 13 is not 1–12"),
     ("Foo 2017", "'Foo' is not a month name"),
     ("Q1 2016", "not a recognised period"),
     ("2016 - 14", "'2016 - 14': the range ends before it starts"),
     ("2017/18 Q1 - 2016/17 Q1", "'2017/18 Q1 - 2016/17 Q1': the range ends before it starts"),
     (12.5, "12.5 is not a period label")],
    ids=["blank", "non-consecutive", "month-13", "month-13-day", "bad-month", "unknown",
         "short-range-backwards", "range-backwards", "number"],
)  # fmt: skip
def test_parse_period_errors(text: object, message: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_period(text)
    assert str(info.value) == message


def test_parse_periods_column() -> None:
    out = parse_periods(pd.Series(["2016/17 Q1", None, "bad", "2016/17 q1"], index=[5, 6, 7, 8]))
    assert list(out.index) == [5, 6, 7, 8]
    assert out["period"].tolist()[::3] == ["2016/17 Q1", "2016/17 Q1"]
    assert out["error"].tolist() == ["", "blank period", "not a recognised period", ""]
    assert out["period_end"].iloc[0] == pd.Timestamp("2016-06-30")
    assert pd.isna(out["period_end"].iloc[1])


def test_sort_labels_by_end_then_start() -> None:
    labels = ["2017-01", "2016/17", "2016/17 Q4", "2016/17 Q1", "2015/16 Q2 - 2016/17 Q1", "2016"]
    assert sort_labels(labels) == ["2015/16 Q2 - 2016/17 Q1", "2016/17 Q1", "2016", "2017-01",
                                   "2016/17", "2016/17 Q4"]  # fmt: skip


def test_periods_order() -> None:
    assert financial_quarter(2016, 1) < financial_quarter(2016, 2) < financial_year(2016)


@pytest.mark.parametrize(
    ("quarter", "label"),
    [((2016, 1), "2015/16 Q2 - 2016/17 Q1"), ((2016, 3), "2015/16 Q4 - 2016/17 Q3"),
     ((2016, 4), "2016/17 Q1 - 2016/17 Q4")],
    ids=["Q1", "Q3", "Q4"],
)  # fmt: skip
def test_rolling_12m_label(quarter: tuple[int, int], label: str) -> None:
    got = rolling_12m_label(financial_quarter(*quarter))
    assert got == label
    window = parse_period(got)
    assert (window.end - window.start).days in (364, 365)


def test_rolling_12m_needs_a_quarter() -> None:
    with pytest.raises(ValueError, match="labelled by the quarter it ends with"):
        rolling_12m_label(financial_year(2016))


def test_assert_one_kind() -> None:
    assert_one_kind(pd.Series(["quarter", "quarter"]), "x")
    with pytest.raises(InputError) as info:
        assert_one_kind(pd.Series(["quarter", "month"]), "123a")
    assert str(info.value) == (
        "123a mixes period formats (month, quarter): use one kind of period per indicator"
    )
