"""The app on real published data: IAPT reliable improvement by CCG, 2016 boundaries, similar 10.

The folder is built in a temporary directory from ``../shared/data/real`` (never copied into the
repository): the IAPT file as published (ONS ``E38…`` codes, loaded through a column mapping as a
user would on the Data page), the RightCare "similar 10" lookup (ODS codes, with the ONS code
beside them) and the April 2016 CCG boundaries. The app is started on it with ``$IAF_DATA``.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
from streamlit.testing.v1 import AppTest

from iaf import loaders
from iaf.stats import funnel
from tests.conftest import REPO

pytestmark = pytest.mark.timeout(600)
IAPT = "iapt_reliable_improvement_ccg16.csv"
MAPPING = {
    "area_code": "Area Code",
    "numerator": "Count",
    "denominator": "Denominator",
    "period": {"fixed": "2016/17 Q1"},
    "indicator": {"fixed": "123a"},
    "area_name": "Area Name",
}
AIREDALE = ("02N", "E38000001", "NHS Airedale, Wharfedale and Craven CCG")


@pytest.fixture(scope="module")
def real_folder(real_dir: Path, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("real_iapt")
    result = loaders.load_values(real_dir / "indicators" / IAPT, name=IAPT, mapping=MAPPING)
    result.values.to_csv(folder / "iapt_123a.csv", index=False)
    shutil.copy(real_dir / "lookups" / "ccg16_codes_names_similar10.csv", folder / "areas.csv")
    shutil.copy(
        real_dir / "boundaries" / "ccg16_apr2016_simplified_209.geojson", folder / "ccg16.geojson"
    )
    return folder


@pytest.fixture(autouse=True)
def _real_data(real_folder, tmp_path, monkeypatch):
    monkeypatch.setenv("IAF_DATA", str(real_folder))
    monkeypatch.setenv("IAF_STORE", str(tmp_path / "store"))
    main = sys.modules["__main__"]
    yield
    sys.modules["__main__"] = main


def plain(markdown: str) -> str:
    """Markdown source as the reader sees it (the app backslash-escapes names from files)."""
    return re.sub(r"\\(.)", r"\1", markdown)


def start(**params: str) -> AppTest:
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=300)
    for k, v in params.items():
        at.query_params[k] = v
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_explorer_flags_the_same_outliers_as_the_funnel_method(real_dir: Path):
    at = start()
    at.switch_page("app_pages/explorer.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("123a" in h.value for h in at.header)
    # The same file through the funnel method directly (proportion, 99.8%, overdispersion on).
    raw = pd.read_csv(real_dir / "indicators" / IAPT)
    res = funnel.funnel(raw["Count"], raw["Denominator"], data_type="PR", groups=raw["Area Code"])
    assert res.adjusted and res.phi > 1
    pts = res.points
    expected = set(pts.loc[pts["outlier"] != "", "group"])
    assert expected, "this real series has outliers at 99.8% even after adjustment"
    at.session_state["explorer_tab"] = "Outlier table"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    table = next(d.value for d in at.dataframe if "funnel_z" in d.value.columns)
    ons = pd.read_csv(real_dir / "lookups" / "ccg16_codes_names_similar10.csv")
    to_ods = dict(zip(ons["CCG16CD"], ons["CCG16CDH"], strict=True))
    shown = set(table.loc[table["outlier"].isin(["high", "low"]), "area_code"])
    assert shown == {to_ods[c] for c in expected}


def test_map_draws_the_real_2016_boundaries():
    at = start()
    at.switch_page("app_pages/explorer.py").run()
    at.session_state["explorer_tab"] = "Map"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    specs = [json.loads(c.proto.spec) for c in at.get("vega_lite_chart")]
    maps = [s for s in specs if "geoshape" in json.dumps(s.get("mark", "")) or "layer" in s]
    text = json.dumps(specs)
    assert AIREDALE[2] in text or AIREDALE[0] in text
    assert any('"geoshape"' in json.dumps(s) for s in maps), "a choropleth of real shapes is drawn"


def test_profile_and_compare_name_a_real_ccg_and_its_similar_10(real_dir: Path):
    at = start()
    at.switch_page("app_pages/profile.py").run()
    at.selectbox(key="area").set_value(AIREDALE[0]).run()
    assert not at.exception, [e.value for e in at.exception]
    assert any(AIREDALE[2] in plain(h.value) for h in at.header), [h.value for h in at.header]

    at.switch_page("app_pages/compare.py").run()
    at.selectbox(key="area").set_value(AIREDALE[0]).run()
    at.radio(key="peers").set_value("similar10").run()
    at.selectbox(key="across").set_value("Mental health").run()
    assert not at.exception, [e.value for e in at.exception]
    # The lookup's own similar_ccg_1..10 for Airedale (first data row of the file).
    lookup = pd.read_csv(real_dir / "lookups" / "ccg16_codes_names_similar10.csv")
    similar = set(lookup.iloc[0][[f"similar_ccg_{i}" for i in range(1, 11)]])
    assert any(plain(h.value).startswith(f"{AIREDALE[2]} and 10 peers") for h in at.header), [
        h.value for h in at.header
    ]
    assert any("published list of the 10 most similar" in plain(m.value) for m in at.markdown)
    chart = at.get("vega_lite_chart")[0].proto
    drawn = pa.ipc.open_stream(chart.datasets[0].data.data).read_all().to_pandas()
    assert set(drawn["area_code"]) == similar | {AIREDALE[0]}
