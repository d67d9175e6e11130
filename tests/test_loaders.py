"""Loaders: real published files load as they are; Fingertips downloads; lookups; properties."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from iaf import catalogue, loaders
from iaf.errors import InputError

IAPT_MAPPING = {
    "area_code": "Area Code",
    "numerator": "Count",
    "denominator": "Denominator",
    "period": {"fixed": "2016/17 Q1"},
    "indicator": {"fixed": "123a"},
    "area_name": "Area Name",
}
EIP_MAPPING = {
    "area_code": "CCG Code",
    "numerator": "0 to 2",
    "denominator": "Total",
    "period": {"fixed": "2017-06"},
    "indicator": {"fixed": "123b"},
}

FT_HEADER = [
    "Indicator ID", "Indicator Name", "Parent Code", "Parent Name", "Area Code", "Area Name",
    "Area Type", "Sex", "Age", "Category Type", "Category", "Time period", "Value",
    "Lower CI 95.0 limit", "Upper CI 95.0 limit", "Lower CI 99.8 limit", "Upper CI 99.8 limit",
    "Count", "Denominator", "Value note", "Recent Trend",
    "Compared to England value or percentiles",
    "Compared to CCGs (from Apr 2021) value or percentiles", "Time period Sortable", "New data",
    "Compared to goal",
]  # fmt: skip


def ft_row(ind: str, code: str, period: str, value: str, count: str, den: str, *,
           area_type: str = "CCGs", sex: str = "Persons", age: str = "18+ yrs", cat_type: str = "",
           lo95: str = "", hi95: str = "", note: str = "") -> list[str]:  # fmt: skip
    name = {"90799": "IAPT reliable improvement", "92588": "Emergency admissions"}[ind]
    return [ind, name, "E40000012", "NHS England North East and Yorkshire", code,
            f"NHS {code} CCG", area_type, sex, age, cat_type, "" if not cat_type else "Q1",
            period, value, lo95, hi95, "", "", count, den, note, "", "", "", "20160", "",
            ""]  # fmt: skip


def fingertips_csv(rows: list[list[str]], header: list[str] = FT_HEADER) -> bytes:
    frame = pd.DataFrame(rows, columns=FT_HEADER)[header]
    return frame.to_csv(index=False).encode("utf-8-sig")


FT_ROWS = [
    ft_row("90799", "00C", "2016/17 Q1", "40", "40", "100", lo95="30.5", hi95="50.1"),
    ft_row("90799", "00D", "2016/17 Q1", "50", "55", "110", lo95="40.8", hi95="59.2"),
    ft_row("90799", "00D", "2016/17 Q2", "", "", "", note="Value suppressed"),
    ft_row("90799", "E92000001", "2016/17 Q1", "49", "49000", "100000", area_type="England"),
    ft_row("90799", "00C", "2016/17 Q1", "60", "6", "10", cat_type="Deprivation"),
    ft_row("92588", "00C", "2016/17", "1500.5", "150", "10000"),
    ft_row("92588", "00D", "2016/17", "2000.0", "240", "12000"),
]


# ── Real files ───────────────────────────────────────────────────────────────────────────
def test_iapt_file_loads_as_published(real_dir: Path) -> None:
    path = real_dir / "indicators" / "iapt_reliable_improvement_ccg16.csv"
    result = loaders.load_values(path, name=path.name, mapping=IAPT_MAPPING)
    v = result.values
    assert (len(v), result.report.n_rejected) == (209, 0)
    assert set(v["indicator"]) == {"123a"} and set(v["period"]) == {"2016/17 Q1"}
    first = v.loc[v["area_code"] == "E38000001"].iloc[0]
    # First data row of the file: E38000001, Count 355, Denominator 505.
    assert (first["numerator"], first["denominator"]) == (355, 505)
    assert first["value"] == pytest.approx(355 / 505 * 100, abs=1e-9)
    names = result.areas.set_index("code")["name"]
    assert names["E38000001"] == "NHS Airedale, Wharfdale And Craven CCG"  # source typo kept
    assert v["numerator"].sum() == pd.read_csv(path)["Count"].sum()


def test_eip_file_loads_as_published(real_dir: Path) -> None:
    path = real_dir / "indicators" / "eip_waiting_times_ccg_2017.csv"
    result = loaders.load_values(path, name=path.name, mapping=EIP_MAPPING)
    raw = pd.read_csv(path)
    assert result.report.n_input_rows == len(raw) == 208
    assert result.report.n_loaded + result.report.n_rejected == 208
    loaded = result.values.set_index("area_code")
    assert loaded.loc["02N", "numerator"] == 6 and loaded.loc["02N", "denominator"] == 6
    assert set(result.values["period"]) == {"2017-06"}
    # CCGs with no patients that month (0 of 0) load as missing (never 0%): nothing rejected.
    zero = raw["CCG Code"][raw["Total"] == 0]
    assert len(zero) == 22 and result.report.n_rejected == 0
    assert loaded.loc[list(zero), "suppressed"].all()
    assert loaded.loc[list(zero), "value"].isna().all()


def test_eip_source_row_is_the_spreadsheet_row(real_dir: Path) -> None:
    frame = loaders.read_table(real_dir / "indicators" / "eip_waiting_times_ccg_2017.csv",
                               name="eip.csv")  # fmt: skip
    assert frame["source_row"].iloc[0] == 2
    assert frame.loc[frame["CCG Code"] == "09C", "source_row"].item() == 3
    assert frame.columns[0] == "column_1"  # the blank index header gets a name


def test_fixed_value_is_applied_to_every_row() -> None:
    data = b"code,n,d\n00C,1,2\n00D,3,4\n"
    result = loaders.load_values(data, name="q.csv", mapping={
        "area_code": "code", "numerator": "n", "denominator": "d",
        "period": {"fixed": "2016/17 Q3"}, "indicator": {"fixed": "123a"}})  # fmt: skip
    assert result.values["period"].astype(str).tolist() == ["2016/17 Q3", "2016/17 Q3"]


# ── read_table ───────────────────────────────────────────────────────────────────────────
def test_read_table_keeps_markers_and_strips_headers() -> None:
    frame = loaders.read_table(b" a , b\n*,..\nc,\n", name="t.csv")
    assert list(frame.columns) == ["a", "b", "source_row"]
    assert frame["a"].tolist() == ["*", "c"] and frame["b"].tolist() == ["..", ""]
    assert frame["source_row"].tolist() == [2, 3]


def test_read_table_blank_lines_keep_row_numbers() -> None:
    frame = loaders.read_table(b"a,b\n1,2\n\n3,4\n", name="t.csv")
    assert frame["source_row"].tolist() == [2, 4]


def test_read_table_quoted_newline_is_one_row() -> None:
    frame = loaders.read_table(b'a,b\n"x\ny",2\n3,4\n', name="t.csv")
    assert frame["a"].tolist() == ["x\ny", "3"] and frame["source_row"].tolist() == [2, 3]


def test_short_rows_are_padded_with_a_warning() -> None:
    frame = loaders.read_table(b"a,b,c\n1,2\n3,4,5\n", name="t.csv")
    assert frame["c"].tolist() == ["", "5"]
    (problem,) = frame.attrs["problems"]
    assert problem.message == (
        "t.csv: 1 rows have fewer values than the header (rows 2): the missing cells were read "
        "as blank"
    )


def _xlsx(rows: list[list[object]], title: str = "Data") -> bytes:
    wb = openpyxl.Workbook()
    wb.active.title = title
    for r in rows:
        wb.active.append(r)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def test_xlsx_cells_become_text() -> None:
    import datetime as dt

    data = _xlsx([["area_code", "n", "when", "flag"], ["00C", 12, dt.datetime(2017, 6, 1), True],
                  [None, 0.5, None, None], ["00D", "*", "2017-07", False]])  # fmt: skip
    frame = loaders.read_table(data, name="book.xlsx")
    assert frame["n"].tolist() == ["12", "0.5", "*"]
    assert frame["when"].tolist()[0] == "2017-06-01 00:00:00"
    assert frame["flag"].tolist() == ["TRUE", "", "FALSE"]
    assert frame["source_row"].tolist() == [2, 3, 4]


def test_xlsx_loads_values_with_a_named_sheet() -> None:
    wb = openpyxl.Workbook()
    wb.active.title = "Cover"
    wb.active.append(["Read me"])
    ws = wb.create_sheet("Values")
    for r in [["area_code", "indicator", "period", "numerator", "denominator"],
              ["00C", "123a", "2016/17 Q1", 40, 100]]:  # fmt: skip
        ws.append(r)
    buf = io.BytesIO()
    wb.save(buf)
    result = loaders.load_values(buf.getvalue(), name="b.xlsx", sheet="Values")
    assert result.values["value"].tolist() == [40.0]


def test_parquet_is_read_as_text(tmp_path: Path) -> None:
    path = tmp_path / "v.parquet"
    pd.DataFrame({"area_code": ["00C", "00D"], "indicator": ["123a"] * 2,
                  "period": ["2016/17 Q1"] * 2, "numerator": [40.0, np.nan],
                  "denominator": [100, 120]}).to_parquet(path)  # fmt: skip
    frame = loaders.read_table(path, name="v.parquet")
    assert frame["numerator"].tolist() == ["40", ""]
    result = loaders.load_values(path, name="v.parquet")
    assert result.values["suppressed"].tolist() == [False, True]


# ── detect_format ────────────────────────────────────────────────────────────────────────
@pytest.mark.parametrize(
    ("columns", "expected"),
    [
        (["area_code", "indicator", "period", "value"], "canonical"),
        (["area_code", "indicator", "period", "numerator", "denominator", "lower_95"],
         "canonical"),
        (FT_HEADER, "fingertips"),
        (["Indicator ID", "Area Code", "Time period", "Value"], "fingertips"),
        (["Area Code", "Count", "Denominator"], "mapped"),
        (["area_code", "indicator", "period"], "mapped"),
    ],
    ids=["canonical-value", "canonical-counts", "fingertips-full", "fingertips-minimal",
         "iapt-like", "no-numbers"],
)  # fmt: skip
def test_detect_format(columns: list[str], expected: str) -> None:
    assert loaders.detect_format(pd.DataFrame(columns=columns)) == expected


# ── Fingertips ───────────────────────────────────────────────────────────────────────────
def test_fingertips_download_loads_with_extras_and_file_cis() -> None:
    result = loaders.load_values(fingertips_csv(FT_ROWS), name="ft.csv")
    v = result.values
    assert sorted(set(v["indicator"])) == ["FT90799", "FT92588"]
    extras = {i.code: i for i in result.extra_indicators}
    prop, rate = extras["FT90799"], extras["FT92588"]
    assert (prop.value_type, prop.multiplier, prop.frequency) == ("proportion", 100.0, "quarterly")
    assert (rate.value_type, rate.multiplier, rate.frequency) == ("rate", 100_000.0, "annual")
    assert prop.name == "IAPT reliable improvement" and prop.domain == "Other (loaded)"
    assert prop.polarity == "no_judgement" and prop.area == "Other"
    row = v.loc[(v["area_code"] == "00C") & (v["indicator"] == "FT90799")].iloc[0]
    assert (row["value"], row["lower_95"], row["upper_95"]) == (40.0, 30.5, 50.1)
    suppressed = v.loc[(v["area_code"] == "00D") & (v["period"] == "2016/17 Q2")].iloc[0]
    assert suppressed["suppressed"] and suppressed["note"] == "Value suppressed"
    # England and the deprivation breakdown are set aside, listed, never dropped.
    rej = result.report.rejected
    assert rej[["row", "reason"]].to_dict("records") == [
        {"row": 5, "reason": "area type England (a comparator, not a CCGs row)"},
        {"row": 6, "reason": "breakdown: category Deprivation"},
    ]
    assert result.report.n_loaded + result.report.n_rejected == len(FT_ROWS)
    messages = [p.message for p in result.report.warnings]
    assert ("ft.csv: 1 rows for other area types (England) were set aside; the CCGs rows are "
            "loaded") in messages  # fmt: skip
    areas = result.areas.set_index("code")
    assert areas.loc["00C", "name"] == "NHS 00C CCG" and areas.loc["00C", "parent"] == "E40000012"


def test_fingertips_indicator_map_uses_the_catalogue() -> None:
    rows = [r for r in FT_ROWS if r[0] == "90799"]
    result = loaders.load_values(fingertips_csv(rows), name="ft.csv",
                                 indicator_map={"90799": "123a"})  # fmt: skip
    assert set(result.values["indicator"]) == {"123a"}
    assert result.extra_indicators == ()


def test_fingertips_missing_optional_columns() -> None:
    minimal = ["Indicator ID", "Indicator Name", "Area Code", "Time period", "Value"]
    result = loaders.load_values(fingertips_csv(FT_ROWS[:2], minimal), name="ft.csv")
    (extra,) = result.extra_indicators
    assert extra.value_type == "score"  # no counts: cannot be a proportion
    assert result.values["value"].tolist() == [40.0, 50.0]


def test_fingertips_sex_breakdown_only_where_totals_exist() -> None:
    rows = [ft_row("90799", "00C", "2016/17 Q1", "40", "40", "100", sex="Persons"),
            ft_row("90799", "00C", "2016/17 Q1", "30", "15", "50", sex="Female")]  # fmt: skip
    result = loaders.load_values(fingertips_csv(rows), name="ft.csv")
    assert result.report.rejected["reason"].tolist() == ["breakdown: sex Female"]
    only_female = loaders.load_values(fingertips_csv(rows[1:]), name="ft.csv")
    assert only_female.report.n_loaded == 1


# ── Areas ────────────────────────────────────────────────────────────────────────────────
def test_ccg16_lookup_prefers_ods_codes_and_joins_peers(real_dir: Path) -> None:
    areas = loaders.load_areas(real_dir / "lookups" / "ccg16_codes_names_similar10.csv",
                               name="ccg16")  # fmt: skip
    assert len(areas) == 209
    row = areas.set_index("code").loc["02N"]
    assert row["ons_code"] == "E38000001"
    assert row["name"] == "NHS Airedale, Wharfedale and Craven CCG"
    assert row["peers"] == "02T;10A;05D;09C;03E;07H;04Q;06M;05T;04H"  # similar_ccg_1..10


@pytest.mark.parametrize(
    ("filename", "n", "code", "ons"),
    [("ccg21_codes_names.csv", 106, "02P", "E38000006"),
     ("ccg20_codes_names.csv", 135, "11X", "E38000150"),
     ("ons_ccg17_names_codes.csv", 207, "02N", "E38000001")],
)  # fmt: skip
def test_real_lookups(real_dir: Path, filename: str, n: int, code: str, ons: str) -> None:
    areas = loaders.load_areas(real_dir / "lookups" / filename, name=filename)
    assert len(areas) == n
    assert areas.set_index("code").loc[code, "ons_code"] == ons


def test_lookup_with_region_stp_population(real_dir: Path) -> None:
    path = real_dir / "lookups" / "ccg21_stp21_nhser21_population_by_ageband.csv"
    areas = loaders.load_areas(path, name=path.name).set_index("code")
    row = areas.loc["E38000256"]  # only ONS codes in this file (UTF-8 BOM header)
    assert (row["region"], row["population"]) == ("London", 2111469)
    assert row["stp"] == "North West London Health and Care Partnership"


def test_area_mapping_errors_name_the_column() -> None:
    with pytest.raises(InputError) as info:
        loaders.load_areas(b"code,nm\n00C,A\n", name="a.csv", mapping={"code": "CODE2"})
    assert str(info.value) == (
        "a.csv: mapping 'code' → column 'CODE2', but the file has no such column; its columns "
        "are: 'code', 'nm'"
    )


@pytest.mark.parametrize(
    ("year", "n", "parent_region", "parent_name"),
    [
        ("2019_2020", 6720, 135, "NHS Tees Valley CCG"),
        ("2021_2022", 6470, 106, "NHS North East and North Cumbria ICB - 16C"),
    ],
)
def test_practice_hierarchy(
    real_dir: Path, year: str, n: int, parent_region: int, parent_name: str
) -> None:
    areas = loaders.load_practice_hierarchy(
        real_dir / "practices" / f"qof_nhs_geographies_{year}.parquet"
    )
    assert len(areas) == n and set(areas["type"]) == {"practice"}
    assert areas["parent"].nunique() == parent_region
    a81001 = areas.set_index("code").loc["A81001"]
    assert (a81001["parent"], a81001["region"]) == ("16C", "North East and Yorkshire")
    assert a81001["parent_name"] == parent_name  # the CCG / sub-ICB location's own name


# ── Properties ───────────────────────────────────────────────────────────────────────────
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=400))
def test_read_table_arbitrary_bytes_only_input_error(data: bytes) -> None:
    try:
        frame = loaders.read_table(data, name="fuzz.csv")
    except InputError as exc:
        assert str(exc).startswith("fuzz.csv")
    else:
        assert "source_row" in frame


_CELL = st.one_of(
    st.sampled_from(["00C", "00D", "123a", "999z", "2016/17 Q1", "2016/17 Q2", "2017-01", "*",
                     "", "40", "100", "-1", "2.5", "inf", "NaN", "1e400", '"', ";", "\t"]),
    st.text(max_size=6),
)  # fmt: skip


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(_CELL, min_size=5, max_size=5), min_size=1, max_size=8))
def test_load_values_every_row_loaded_or_rejected(rows: list[list[str]]) -> None:
    header = ["area_code", "indicator", "period", "numerator", "denominator"]
    buf = io.StringIO()
    pd.DataFrame(rows, columns=header).to_csv(buf, index=False)
    try:
        result = loaders.load_values(buf.getvalue().encode(), name="fuzz.csv")
    except InputError as exc:
        assert str(exc).startswith("fuzz.csv")
        return
    r = result.report
    assert r.n_loaded + r.n_rejected == r.n_input_rows
    assert len(result.values) == r.n_loaded
    assert set(result.values["indicator"].astype(str)) <= {i.code for i in catalogue.CATALOGUE}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=300))
def test_load_values_arbitrary_text_only_input_error(text: str) -> None:
    try:
        result = loaders.load_values(text.encode("utf-8", "surrogatepass"), name="fuzz.csv")
    except InputError:
        return
    r = result.report
    assert r.n_loaded + r.n_rejected == r.n_input_rows


def test_size_limits_name_bytes_when_rounding_would_hide_the_excess() -> None:
    limit = 50 * 1024 * 1024
    assert loaders.over_limit(limit + 5, limit) == (
        "52,428,805 bytes, over the 52,428,800-byte limit"
    )
    assert loaders.over_limit(51 * 1024 * 1024, limit) == "51.0 MB, over the 50.0 MB limit"


def test_areas_lookup_refuses_a_file_over_the_given_limit() -> None:
    data = b"code,name\n" + b"00C,NHS Darlington CCG\n" * 100
    with pytest.raises(
        InputError, match=r"^areas.csv is 2.3 KB, over the 1,000 bytes limit for one file$"
    ):
        loaders.load_areas(data, name="areas.csv", max_bytes=1000)
