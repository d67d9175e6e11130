"""App tests: start at app.py, visit every page, change its main controls, assert what users see.

Streamlit's caches are process-wide, so the demo data and its analysis are computed once for
the module; each test starts its own AppTest session from the entry point.
"""

from __future__ import annotations

import json

import pytest
from streamlit.testing.v1 import AppTest

from iaf import demo

pytestmark = pytest.mark.timeout(600)
TIMEOUT = 300
PAGES = [
    "pages/overview.py",
    "pages/profile.py",
    "pages/explorer.py",
    "pages/trends.py",
    "pages/compare.py",
    "pages/data.py",
    "pages/methods.py",
]
PLANTED = {p.kind + ":" + p.indicator: p for p in demo.PLANTED}


@pytest.fixture(autouse=True)
def _isolated_store(tmp_path, monkeypatch):
    monkeypatch.setenv("IAF_STORE", str(tmp_path / "store"))
    monkeypatch.delenv("IAF_DATA", raising=False)


def start(**params: str) -> AppTest:
    at = AppTest.from_file("app.py", default_timeout=TIMEOUT)
    for k, v in params.items():
        at.query_params[k] = v
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def texts(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [m.value for m in at.title] + [
        m.value for m in at.header] + [m.value for m in at.subheader] + [
        m.value for m in at.caption] + [m.value for m in at.info] + [
        m.value for m in at.warning]  # fmt: skip
    return "\n".join(str(p) for p in parts)


def test_app_opens_on_labelled_demo_data():
    at = start()
    assert at.title[0].value == "Overview"
    assert "Synthetic demo data" in texts(at)
    specs = [json.loads(c.proto.spec) for c in at.get("arrow_vega_lite_chart")]
    assert specs, "the overview draws the tartan rug"


@pytest.mark.parametrize("page", PAGES, ids=[p.split("/")[1][:-3] for p in PAGES])
def test_every_page_renders_without_error(page):
    at = start()
    at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    assert at.title, f"{page} shows a title"


def test_profile_names_the_chosen_area():
    planted = PLANTED["outlier_low:123a"]
    ds = demo.generate()
    name = ds.areas.set_index("code").loc[planted.area_code, "name"]
    at = start(area=planted.area_code)
    at.switch_page("pages/profile.py").run()
    assert not at.exception
    assert any(name in h.value for h in at.header), [h.value for h in at.header]
    table = at.dataframe[1].value if len(at.dataframe) > 1 else at.dataframe[0].value
    assert "123a" in set(table["indicator"])


def test_planted_outlier_appears_in_the_outlier_table():
    planted = PLANTED["outlier_low:123a"]
    at = start(ind="123a", iperiod=planted.from_period)
    at.switch_page("pages/explorer.py").run()
    assert not at.exception, [e.value for e in at.exception]
    outlier_tables = [d.value for d in at.dataframe if "funnel_z" in d.value.columns]
    assert outlier_tables, "the outlier table is shown"
    flagged = outlier_tables[0]
    assert planted.area_code in set(flagged["area_code"])
    row = flagged.loc[flagged["area_code"] == planted.area_code].iloc[0]
    assert row["outlier"] == "low" and row["concern"] == "concern"


def test_changing_the_indicator_redraws_the_funnel():
    at = start(ind="101a")
    at.switch_page("pages/explorer.py").run()
    first = [h.value for h in at.header]
    at.selectbox(key="ind").set_value("127c").run()
    assert not at.exception
    assert [h.value for h in at.header] != first
    assert any("127c" in h.value for h in at.header)
    spec = json.loads(at.get("arrow_vega_lite_chart")[0].proto.spec)
    assert "higher is better" in json.dumps(spec)


def test_clicking_a_funnel_point_opens_that_profile():
    planted = PLANTED["outlier_high:127c"]
    ds = demo.generate()
    name = ds.areas.set_index("code").loc[planted.area_code, "name"]
    at = start(ind="127c")
    at.switch_page("pages/explorer.py").run()
    at.session_state["funnel"] = {"selection": {"pick": [{"area_code": planted.area_code}]}}
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value == "CCG profile"
    assert any(name in h.value for h in at.header)


def test_deep_link_sets_every_control():
    at = start(ind="129a", iperiod="2019/20 Q1", cmp="region", limit="95.0")
    at.switch_page("pages/explorer.py").run()
    assert at.selectbox(key="ind").value == "129a"
    assert at.selectbox(key="iperiod").value == "2019/20 Q1"
    assert at.selectbox(key="cmp").value == "region"


def test_trends_shows_planted_shift_as_special_cause():
    planted = PLANTED["shift:124b"]
    at = start(area=planted.area_code, ind=planted.indicator)
    at.switch_page("pages/trends.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert "Special cause improvement" in texts(at)


def test_presentation_mode_hides_the_sidebar_controls():
    at = start(present="1")
    assert not at.exception
    assert len(at.sidebar.selectbox) == 0
    assert any(b.label == "Leave presentation mode" for b in at.button)


def test_unexpected_error_shows_an_error_id_not_a_traceback():
    def app() -> None:
        import ui

        class Broken:
            title = "broken"

            def run(self) -> None:
                raise ValueError("secret internal detail")

        ui.run_page(Broken())

    at = AppTest.from_function(app, default_timeout=TIMEOUT)
    at.run()
    assert not at.exception
    message = at.error[0].value
    assert "error id" in message
    assert "secret internal detail" not in message
