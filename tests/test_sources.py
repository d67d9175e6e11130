"""Tests for iaf.sources: a folder of files becomes one dataset; ONS and ODS codes join."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from iaf import demo, sources
from iaf.errors import InputError


@pytest.fixture(scope="module")
def examples(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("examples")
    demo.write_examples(folder)
    (folder / "demo_mapped_101a.csv").unlink()  # needs a column mapping: a folder cannot guess it
    return folder


def test_a_folder_of_example_files_loads_as_one_dataset(examples: Path):
    ds, reports = sources.load_folder(examples)
    assert {"123a", "127c", "123b"} <= set(ds.values["indicator"].astype(str))
    assert ds.boundaries is not None and ds.mergers is not None
    assert set(ds.values["area_code"].astype(str)) <= set(ds.areas["code"])
    assert all(p.severity != "error" for r in reports for p in r.problems), reports


def test_a_bad_file_in_the_folder_is_reported_and_the_rest_still_load(examples: Path, tmp_path):
    for p in examples.iterdir():
        (tmp_path / p.name).write_bytes(p.read_bytes())
    (tmp_path / "broken.csv").write_bytes(b"\x00\x01\x02 not a table")
    ds, reports = sources.load_folder(tmp_path)
    assert "123a" in set(ds.values["indicator"].astype(str))
    broken = [r for r in reports if r.source == "broken.csv"]
    assert broken and broken[0].problems[0].severity == "error"


def test_a_folder_with_no_values_says_so(tmp_path):
    (tmp_path / "notes.csv").write_text("code,name\n00C,NHS Darlington CCG\n")
    with pytest.raises(InputError, match="no indicator values found"):
        sources.load_folder(tmp_path)


def test_ons_codes_join_a_lookup_that_holds_both_kinds_of_code():
    areas = pd.DataFrame(
        {"code": ["02N", "09C"], "name": ["A", "B"], "ons_code": ["E38000001", "E38000002"]}
    )
    values = pd.DataFrame(
        {"area_code": pd.Categorical(["E38000001", "09C", "E38000002", "X99"]), "value": range(4)}
    )
    out, n = sources.codes_as_in_areas(values, areas)
    assert n == 2
    assert out["area_code"].astype(str).tolist() == ["02N", "09C", "09C", "X99"]
    # Codes the lookup already uses are never re-coded, and a lookup without ONS codes is a no-op.
    same, none = sources.codes_as_in_areas(values, areas.drop(columns="ons_code"))
    assert none == 0 and same is values


def test_a_folder_of_ons_coded_values_and_an_ods_lookup_joins_and_says_so(tmp_path):
    ds = demo.generate()
    areas = ds.areas.head(5).assign(ons_code=[f"E3800000{i}" for i in range(5)])
    ons = dict(zip(areas["code"], areas["ons_code"], strict=True))
    v = ds.values
    rows = v.loc[v["area_code"].isin(list(ons)) & (v["indicator"] == "123a")]
    rows = rows.assign(area_code=rows["area_code"].astype(str).map(ons))
    rows[["area_code", "indicator", "period", "numerator", "denominator"]].to_csv(
        tmp_path / "values.csv", index=False
    )
    areas[["code", "name", "ons_code"]].to_csv(tmp_path / "areas.csv", index=False)
    loaded, reports = sources.load_folder(tmp_path)
    assert set(loaded.values["area_code"].astype(str)) == set(ons)
    notes = [p.message for r in reports for p in r.problems]
    assert any(f"{len(rows):,} rows gave ONS area codes" in m for m in notes), notes
    assert len(loaded.values) == len(rows)
