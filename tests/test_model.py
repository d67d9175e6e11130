"""model.validate_values: one test per rule with the exact message; areas; concat; Dataset."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from iaf import catalogue, model
from iaf.errors import InputError

COLS = ["area_code", "indicator", "period", "numerator", "denominator", "value"]
GOOD = ("00C", "123a", "2016/17 Q1", "40", "100", "")


def raw(*rows: tuple, columns: list[str] = COLS) -> pd.DataFrame:
    return pd.DataFrame([list(r) for r in rows], columns=columns, dtype="str")


RULES = [
    ("blank_area", ("", "123a", "2016/17 Q1", "40", "100", ""),
     "blank area code in 1 row: row 2 123a 2016/17 Q1"),
    ("blank_indicator", ("00C", "", "2016/17 Q1", "40", "100", ""),
     "blank indicator in 1 row: row 2 00C 2016/17 Q1"),
    ("long_area", ("A" * 21, "123a", "2016/17 Q1", "40", "100", ""),
     f"area code longer than 20 characters in 1 row: row 2 {'A' * 21} 123a 2016/17 Q1"),
    ("unknown_indicator", ("00C", "999z", "2016/17 Q1", "40", "100", ""),
     "unknown indicator ('999z'; expected an IAF code such as 101a) in 1 row: row 2 00C 999z "
     "2016/17 Q1"),
    ("bad_period", ("00C", "123a", "Q5 2016", "40", "100", ""),
     "unrecognised period ('Q5 2016'; expected e.g. 2016/17 Q1, 2016/17, 2017-01) in 1 row: "
     "row 2 00C 123a Q5 2016"),
    ("text_in_number", ("00C", "123a", "2016/17 Q1", "4O", "100", ""),
     "text where a number belongs in column numerator in 1 row: row 2 00C 123a 2016/17 Q1"),
    ("infinite", ("00C", "123a", "2016/17 Q1", "40", "100", "-inf"),
     "infinite number in column value in 1 row: row 2 00C 123a 2016/17 Q1"),
    ("negative_num", ("00C", "123a", "2016/17 Q1", "-1", "100", ""),
     "negative numerator in 1 row: row 2 00C 123a 2016/17 Q1"),
    ("negative_den", ("00C", "123a", "2016/17 Q1", "1", "-100", ""),
     "negative denominator in 1 row: row 2 00C 123a 2016/17 Q1"),
    ("fractional_num", ("00C", "123a", "2016/17 Q1", "1.5", "100", ""),
     "fractional numerator where a whole count is required in 1 row: row 2 00C 123a 2016/17 Q1"),
    ("fractional_den", ("00C", "123a", "2016/17 Q1", "1", "100.5", ""),
     "fractional denominator where a whole count is required in 1 row: row 2 00C 123a "
     "2016/17 Q1"),
    ("num_over_den", ("00C", "123a", "2016/17 Q1", "101", "100", ""),
     "numerator exceeds denominator in 1 row: row 2 00C 123a 2016/17 Q1"),
    ("zero_den", ("00C", "104a", "2016/17 Q1", "3", "0", ""),
     "zero denominator in 1 row: row 2 00C 104a 2016/17 Q1"),
    ("proportion_range", ("00C", "123a", "2016/17 Q1", "", "", "101"),
     "proportion outside 0 to 100% in 1 row: row 2 00C 123a 2016/17 Q1"),
]  # fmt: skip


@pytest.mark.parametrize(("rule", "row", "message"), RULES, ids=[r[0] for r in RULES])
def test_each_rule_rejects_with_exact_message(rule: str, row: tuple, message: str) -> None:
    values, report = model.validate_values(raw(row, ("00D", *GOOD[1:])), source="t.csv")
    assert [p.message for p in report.errors] == [message]
    assert report.rejected["row"].tolist() == [2]
    assert report.rejected["reason"].tolist() == [message.split(" in 1 row")[0]]
    assert values["area_code"].astype(str).tolist() == ["00D"]
    assert report.n_loaded + report.n_rejected == report.n_input_rows == 2


def test_first_rule_wins_and_later_rules_skip_rejected_rows() -> None:
    _, report = model.validate_values(raw(("", "999z", "x", "-1", "y", "")), source="t")
    assert report.rejected["reason"].tolist() == ["blank area code"]
    assert len(report.errors) == 1


def test_unknown_area() -> None:
    _, report = model.validate_values(raw(GOOD, ("99Z", *GOOD[1:])), source="t",
                                      area_codes={"00C"})  # fmt: skip
    assert [p.message for p in report.errors] == [
        "area code not in the areas table (99Z) in 1 row: row 3 99Z 123a 2016/17 Q1"
    ]


def test_mixed_periods_reject_the_minority() -> None:
    _, report = model.validate_values(
        raw(GOOD, ("00D", *GOOD[1:]), ("00K", "123a", "2017-01", "1", "2", "")), source="t"
    )
    assert [p.message for p in report.errors] == [
        "mixed period formats within one indicator (these rows differ from the indicator's usual "
        "kind of period) in 1 row: row 4 00K 123a 2017-01"
    ]


def test_confidence_interval_rules() -> None:
    cols = [*COLS, "lower_95", "upper_95"]
    _, report = model.validate_values(
        raw(("00C", "123a", "2016/17 Q1", "", "", "40", "50", "45"),
            ("00D", "123a", "2016/17 Q1", "", "", "40", "41", "49"), columns=cols),
        source="t",
    )  # fmt: skip
    assert [p.message for p in report.errors] == [
        "lower 95 limit above upper limit in 1 row: row 2 00C 123a 2016/17 Q1",
        "value outside its 95 confidence interval in 1 row: row 3 00D 123a 2016/17 Q1",
    ]


def test_duplicates_after_canonical_periods() -> None:
    _, report = model.validate_values(raw(GOOD, ("00C", "123a", "2016/17  q1", "41", "100", "")),
                                      source="t")  # fmt: skip
    assert [p.message for p in report.errors] == [
        "duplicate area, indicator and period (the first was kept) in 1 row: row 3 00C 123a "
        "2016/17 Q1"  # the message shows the canonical label
    ]


def test_value_mismatch_is_a_warning_and_value_kept() -> None:
    values, report = model.validate_values(raw(("00C", "123a", "2016/17 Q1", "40", "100", "45")),
                                           source="t")  # fmt: skip
    assert [p.message for p in report.warnings] == [
        "value differs by more than 1% from numerator / denominator (the value given was kept) "
        "in 1 row: row 2 00C 123a 2016/17 Q1"
    ]
    assert values["value"].tolist() == [45.0]


@pytest.mark.parametrize("marker", ["*", "c", "x", "..", "-", "", ":", "n/a", "NA"])
def test_suppression_markers_are_kept_as_suppressed(marker: str) -> None:
    values, report = model.validate_values(raw(("00C", "123a", "2016/17 Q1", marker, "100", "")),
                                           source="t")  # fmt: skip
    assert values["suppressed"].tolist() == [True] and np.isnan(values["value"].iloc[0])
    assert [p.message for p in report.warnings] == [
        "1 rows are suppressed or missing: kept and shown as suppressed, never 0"
    ]


def test_value_from_counts_and_thousands_separators() -> None:
    values, _ = model.validate_values(raw(("00C", "123a", "2016/17 Q1", "1,000", "4,000", "")),
                                      source="t")  # fmt: skip
    assert values["value"].tolist() == [25.0]
    assert values["period_start"].iloc[0] == pd.Timestamp("2016-04-01")
    assert values["period_end"].iloc[0] == pd.Timestamp("2016-06-30")
    assert list(values.columns) == list(model.VALUE_COLUMNS)


@pytest.mark.parametrize(
    ("frame", "message"),
    [(pd.DataFrame({"area_code": ["00C"], "period": ["2016"], "value": ["1"]}),
      "t: missing required column(s): indicator"),
     (pd.DataFrame({"area_code": ["00C"], "indicator": ["123a"], "period": ["2016"]}),
      "t: needs a value column, or numerator and denominator columns (found: area_code, "
      "indicator, period)"),
     (pd.DataFrame({c: [] for c in COLS}), "t: has a header but no data rows")],
    ids=["no-indicator", "no-numbers", "no-rows"],
)  # fmt: skip
def test_fatal_problems_raise(frame: pd.DataFrame, message: str) -> None:
    with pytest.raises(InputError) as info:
        model.validate_values(frame, source="t")
    assert str(info.value) == message


def test_describe_rows_caps_examples() -> None:
    frame = pd.DataFrame({"source_row": range(2, 10), "area_code": list("ABCDEFGH")})
    assert model.describe_rows(frame, np.ones(8, bool), "odd") == (
        "odd in 8 rows: row 2 A, row 3 B, row 4 C, row 5 D, row 6 E and 3 more"
    )


def test_validate_areas_rules() -> None:
    with pytest.raises(InputError, match=r"^a: blank area code in 1 rows: rows 3$"):
        model.validate_areas(pd.DataFrame({"code": ["00C", " "]}), source="a")
    with pytest.raises(InputError, match=r"^a: area codes appear more than once: 00C$"):
        model.validate_areas(pd.DataFrame({"code": ["00C", "00C"]}), source="a")
    with pytest.raises(InputError, match=r"^a: the areas table needs a 'code' column$"):
        model.validate_areas(pd.DataFrame({"name": ["x"]}), source="a")
    areas = model.validate_areas(pd.DataFrame({"code": ["00C"], "imd": [1.5]}), source="a")
    assert list(areas.columns) == [*model.AREA_COLUMNS, "imd"]
    assert areas.iloc[0][["name", "type"]].tolist() == ["00C", "ccg"]


def test_concat_and_areas_from_values() -> None:
    a, _ = model.validate_values(raw(GOOD), source="a")
    b, _ = model.validate_values(raw(("00D", "101a", "2016/17 Q1", "1", "10", "")), source="b")
    both = model.concat_values([a, b, model.empty_values()])
    assert both["area_code"].tolist() == ["00C", "00D"]
    assert isinstance(both["indicator"].dtype, pd.CategoricalDtype)
    assert model.areas_from_values(both)["code"].tolist() == ["00C", "00D"]
    assert model.concat_values([]).empty


def test_dataset_summary_and_indicators() -> None:
    values, _ = model.validate_values(raw(GOOD, ("00D", "123a", "2016/17 Q1", "*", "9", "")),
                                      source="t")  # fmt: skip
    ds = model.Dataset(values=values, areas=model.areas_from_values(values))
    assert ds.summary() == {"rows": 2, "areas": 2, "periods": 1, "indicators": 1,
                            "suppressed": 1}  # fmt: skip
    assert ds.indicators() == (catalogue.by_code("123a"),)
    assert ds.indicator("123a").code == "123a"


def test_zero_of_zero_is_kept_as_missing_not_rejected() -> None:
    values, report = model.validate_values(raw(("00C", "123a", "2016/17 Q1", "0", "0", "")),
                                           source="t")  # fmt: skip
    assert report.n_rejected == 0
    assert values["suppressed"].tolist() == [True] and np.isnan(values["value"].iloc[0])
    assert [p.message for p in report.warnings] == [
        "zero numerator and zero denominator (nothing to measure: kept as missing, not 0) in 1 "
        "row: row 2 00C 123a 2016/17 Q1",
        "1 rows are suppressed or missing: kept and shown as suppressed, never 0",
    ]
