"""Mergers: transitive successors from the real ODS file; roll forward sums counts."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from iaf import geo, loaders, mergers
from iaf.errors import InputError
from iaf.model import validate_values

SUCC = b"from,to,legal_start\nA,C,2018-04-01\nB,C,2018-04-01\nC,E,2021-04-01\nD,E,2021-04-01\n"


@pytest.fixture(scope="module")
def real_successors(real_dir: Path) -> pd.DataFrame:
    return mergers.load_successors(real_dir / "lookups" / "ods_successors_all_org_types.csv")


def test_load_successors_keeps_every_org_type(real_successors: pd.DataFrame) -> None:
    assert len(real_successors) == 1652
    assert list(real_successors.columns) == ["from", "to", "legal_start"]


@pytest.mark.parametrize(
    ("code", "as_of", "expected"),
    [("10G", date(2018, 3, 31), "10G"), ("10G", date(2018, 4, 1), "15D"),
     ("10G", date(2021, 4, 1), "D4U1Y"), ("15D", date(2021, 4, 1), "D4U1Y"),
     ("00C", date(2021, 4, 1), "16C"), ("NOTACODE", date(2021, 4, 1), "NOTACODE")],
    ids=["before-2018", "2018-merger", "chain-2021", "15D-2021", "00C-2020", "unknown"],
)  # fmt: skip
def test_resolve_real_chains(real_successors, code: str, as_of: date, expected: str) -> None:
    assert mergers.resolve_successors(real_successors, [code], as_of) == {code: expected}


def test_cycle_is_an_input_error() -> None:
    succ = mergers.load_successors(b"from,to,legal_start\nA,B,2018-04-01\nB,A,2019-04-01\n")
    with pytest.raises(InputError) as info:
        mergers.resolve_successors(succ, ["A"], date(2020, 1, 1))
    assert str(info.value) == (
        "successors: the chain A → B → A is a cycle; fix the successor table"
    )


def test_split_is_an_input_error() -> None:
    succ = mergers.load_successors(b"from,to,legal_start\nA,B,2018-04-01\nA,C,2018-04-01\n")
    with pytest.raises(InputError) as info:
        mergers.resolve_successors(succ, ["A"], date(2020, 1, 1))
    assert str(info.value) == (
        "successors: A has 2 successors on 2018-04-01 (B, C): an area that split cannot be "
        "rolled forward"
    )


def test_bad_successor_rows() -> None:
    with pytest.raises(InputError) as info:
        mergers.load_successors(b"from,to,legal_start\nA,,2018-04-01\nB,C,someday\n", name="s.csv")
    assert str(info.value) == (
        "s.csv: 2 rows lack a from code, a to code or a legal_start date (YYYY-MM-DD): rows 2, 3"
    )


def _values(rows: list[tuple]) -> pd.DataFrame:
    raw = pd.DataFrame(rows, columns=["area_code", "indicator", "period", "numerator",
                                      "denominator", "value"])  # fmt: skip
    values, _ = validate_values(raw, source="test")
    return values


def test_roll_forward_sums_counts_never_averages() -> None:
    succ = mergers.load_successors(SUCC)
    v = _values([("A", "123a", "2016/17 Q1", 10, 100, None), ("B", "123a", "2016/17 Q1", 90, 300,
                 None), ("D", "123a", "2016/17 Q1", 5, 10, None)])  # fmt: skip
    out, notes = mergers.roll_forward(v, succ, date(2021, 4, 1))
    row = out.loc[out["area_code"] == "E"].iloc[0]
    assert (row["numerator"], row["denominator"]) == (105, 410)
    assert row["value"] == pytest.approx(105 / 410 * 100, abs=1e-9)  # not mean(10%, 30%, 50%)
    assert not row["suppressed"]
    assert notes.to_dict("records") == [{"area_code": "E", "indicator": "123a",
                                         "period": "2016/17 Q1", "merged_from": "A;B;D",
                                         "note": "merged from A, B, D: counts summed"}]  # fmt: skip


def test_roll_forward_only_applies_mergers_in_force() -> None:
    succ = mergers.load_successors(SUCC)
    v = _values([("A", "123a", "2016/17 Q1", 10, 100, None), ("D", "123a", "2016/17 Q1", 5, 10,
                 None)])  # fmt: skip
    out, _ = mergers.roll_forward(v, succ, date(2019, 1, 1))
    assert sorted(out["area_code"].astype(str)) == ["C", "D"]
    assert out.set_index(out["area_code"].astype(str)).loc["C", "value"] == 10.0


def test_value_without_counts_cannot_be_recombined() -> None:
    succ = mergers.load_successors(SUCC)
    v = _values([("A", "123a", "2016/17 Q1", None, None, 10.0), ("B", "123a", "2016/17 Q1", 9,
                 30, None)])  # fmt: skip
    out, _ = mergers.roll_forward(v, succ, date(2019, 1, 1))
    row = out.iloc[0]
    assert np.isnan(row["value"]) and row["suppressed"]
    assert row["note"] == "merged from A, B: value cannot be recombined without counts"


def test_suppressed_predecessor_suppresses_the_merged_area() -> None:
    succ = mergers.load_successors(SUCC)
    raw = pd.DataFrame({"area_code": ["A", "B"], "indicator": ["123a"] * 2,
                        "period": ["2016/17 Q1"] * 2, "numerator": ["*", "9"],
                        "denominator": ["20", "30"]})  # fmt: skip
    v, _ = validate_values(raw, source="t")
    out, _ = mergers.roll_forward(v, succ, date(2019, 1, 1))
    row = out.iloc[0]
    assert row["suppressed"] and np.isnan(row["value"]) and np.isnan(row["numerator"])
    assert row["note"] == (
        "merged from A, B: suppressed because A was suppressed (a partial sum would be wrong)"
    )


def test_unmerged_rows_pass_through_unchanged() -> None:
    succ = mergers.load_successors(SUCC)
    v = _values([("Z", "123a", "2016/17 Q1", 10, 100, None)])
    out, notes = mergers.roll_forward(v, succ, date(2021, 4, 1))
    pd.testing.assert_frame_equal(out, v)
    assert notes.empty


def test_real_iapt_2016_rolls_forward_to_the_106_ccgs_of_2021(real_dir, real_successors) -> None:
    lookups = real_dir / "lookups"
    ccg16 = loaders.load_areas(lookups / "ccg16_codes_names_similar10.csv", name="ccg16")
    ccg21 = loaders.load_areas(lookups / "ccg21_codes_names.csv", name="ccg21")
    path = real_dir / "indicators" / "iapt_reliable_improvement_ccg16.csv"
    loaded = loaders.load_values(path, name=path.name, mapping={
        "area_code": "Area Code", "numerator": "Count", "denominator": "Denominator",
        "period": {"fixed": "2016/17 Q1"}, "indicator": {"fixed": "123a"}}).values  # fmt: skip
    # The file uses ONS E38 codes; successors are ODS codes.
    ons = geo.ons_to_ods(ccg16)
    values = loaded.assign(area_code=loaded["area_code"].astype(str).map(ons))
    assert values["area_code"].notna().all()
    out, notes = mergers.roll_forward(values, real_successors, date(2021, 4, 1))
    assert set(out["area_code"].astype(str)) == set(ccg21["code"])  # full coverage, 106 areas
    assert len(out) == 106
    assert out["numerator"].sum() == values["numerator"].sum()
    assert out["denominator"].sum() == values["denominator"].sum()
    # 10G (Bracknell and Ascot) → 15D (2018) → D4U1Y (Frimley, 2021)
    frimley = notes.set_index("area_code").loc["D4U1Y", "merged_from"].split(";")
    assert "10G" in frimley
    members = values.loc[values["area_code"].isin(frimley)]
    row = out.loc[out["area_code"] == "D4U1Y"].iloc[0]
    assert row["numerator"] == members["numerator"].sum()
    assert row["value"] == pytest.approx(
        members["numerator"].sum() / members["denominator"].sum() * 100, abs=1e-9
    )
