"""App tests: start at app.py, visit every page, change its main controls, assert what users see.

Streamlit's caches are process-wide, so the demo data and its analysis are computed once for
the module; each test starts its own AppTest session from the entry point.
"""

from __future__ import annotations

import json
import sys

import pyarrow as pa
import pytest
from streamlit.testing.v1 import AppTest

from iaf import demo
from tests.conftest import REPO

pytestmark = pytest.mark.timeout(600)
TIMEOUT = 300
PAGES = [
    "app_pages/overview.py",
    "app_pages/profile.py",
    "app_pages/explorer.py",
    "app_pages/trends.py",
    "app_pages/compare.py",
    "app_pages/data.py",
    "app_pages/methods.py",
]
PLANTED = {p.kind + ":" + p.indicator: p for p in demo.PLANTED}


@pytest.fixture(autouse=True)
def _isolated_store(tmp_path, monkeypatch):
    monkeypatch.setenv("IAF_STORE", str(tmp_path / "store"))
    monkeypatch.delenv("IAF_DATA", raising=False)
    # Streamlit's script runner installs the app as sys.modules["__main__"]; put pytest's back
    # so later multiprocessing tests (which re-import __main__ in children) are unaffected.
    main = sys.modules["__main__"]
    yield
    sys.modules["__main__"] = main


def start(page: str | None = None, **controls: str) -> AppTest:
    """A session started at app.py, moved to ``page``, with its controls (by key) set.

    On the default page the values go in as URL parameters (a deep link). AppTest does not seed
    URL-bound widgets on a page reached by ``switch_page``, so there the controls are set as a
    user would, one by one (deep links to other pages are tested in the real browser).
    """
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=TIMEOUT)
    if not page:
        for k, v in controls.items():
            at.query_params[k] = v
        at.run()
    else:
        at.run()
        at.switch_page(page).run()
        for k, v in controls.items():
            widget = next(
                (w for kind in ("selectbox", "radio") for w in getattr(at, kind) if w.key == k),
                None,
            )
            assert widget is not None, f"{page} has no control with key {k!r}"
            widget.set_value(type(widget.value)(v) if widget.value is not None else v).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def open_tab(at: AppTest, label: str) -> AppTest:
    """Open one of the explorer's tabs, as a click on it does (only the open tab is built)."""
    assert label in [t.label for t in at.tabs], [t.label for t in at.tabs]
    at.session_state["explorer_tab"] = label
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
    specs = [json.loads(c.proto.spec) for c in at.get("vega_lite_chart")]
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
    at = start("app_pages/profile.py", area=planted.area_code)
    assert not at.exception
    assert any(name in h.value for h in at.header), [h.value for h in at.header]
    table = next(d.value for d in at.dataframe if "narrative" in d.value.columns)
    assert "123a" in set(table["indicator"])
    row = table.loc[table["indicator"] == "123a"].iloc[0]
    assert row["sig"] == "worse"
    assert "Significantly worse than England" in row["narrative"]


def test_planted_outlier_appears_in_the_outlier_table():
    planted = PLANTED["outlier_low:123a"]
    at = start("app_pages/explorer.py", ind="123a", iperiod=planted.from_period)
    assert not at.exception, [e.value for e in at.exception]
    open_tab(at, "Outlier table")
    outlier_tables = [d.value for d in at.dataframe if "funnel_z" in d.value.columns]
    assert outlier_tables, "the outlier table is shown"
    flagged = outlier_tables[0]
    assert planted.area_code in set(flagged["area_code"])
    row = flagged.loc[flagged["area_code"] == planted.area_code].iloc[0]
    assert row["outlier"] == "low" and row["concern"] == "concern"


def test_changing_the_indicator_redraws_the_funnel():
    at = start("app_pages/explorer.py", ind="101a")
    first = [h.value for h in at.header]
    at.selectbox(key="ind").set_value("127c").run()
    assert not at.exception
    assert [h.value for h in at.header] != first
    assert any("127c" in h.value for h in at.header)
    # The chart's spec is the same for every indicator: its title comes with its data.
    chart = at.get("vega_lite_chart")[0].proto
    title = chart_title(chart)
    assert "127c" in title and "higher is better" in title
    assert "127c" not in chart.spec


def test_clicking_a_funnel_point_opens_that_profile():
    planted = PLANTED["outlier_high:127c"]
    ds = demo.generate()
    name = ds.areas.set_index("code").loc[planted.area_code, "name"]
    at = start("app_pages/explorer.py", ind="127c")
    at.session_state["funnel"] = {"selection": {"pick": [{"area_code": planted.area_code}]}}
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value == "CCG profile"
    assert any(name in h.value for h in at.header)


def test_deep_link_sets_every_control():
    at = start(period="2019/20 Q1", cmp="region", group="clinical_priority")
    assert at.selectbox(key="period").value == "2019/20 Q1"
    assert at.selectbox(key="cmp").value == "region"
    assert at.radio(key="group").value == "clinical_priority"
    assert "Data for 2019/20 Q1" in texts(at)


def test_explorer_controls_change_the_view():
    at = start("app_pages/explorer.py", ind="129a", iperiod="2019/20 Q1", cmp="region")
    assert any("129a" in h.value for h in at.header)
    open_tab(at, "Outlier table")
    ranked = next(d.value for d in at.dataframe if "funnel_z" in d.value.columns)
    assert ranked["comparator_value"].notna().all()


def test_explorer_indicator_and_period_boxes_keep_their_place_and_drive_the_view():
    """The indicator and period boxes are drawn by the page's fragment into a slot among the
    other controls: they stay first and second among the sidebar's controls, and choosing in
    them changes the header, the period list and the share link."""
    at = start("app_pages/explorer.py", ind="123a")
    labels = [w.label for w in at.sidebar if getattr(w, "label", None)]
    controls = labels[labels.index("Presentation mode") + 1 :]  # after the frame's button
    assert controls[:4] == ["Indicator", "Period", "Compare with", "Outlier limit"], labels
    at.sidebar.selectbox(key="ind").select("103a").run()
    assert not at.exception, [e.value for e in at.exception]
    assert any(h.value.startswith("103a ") for h in at.header)
    period = at.sidebar.selectbox(key="iperiod")
    assert period.options[-1] == period.value == "2020/21", "103a is annual: its latest year"
    assert "ind=103a&iperiod=2020/21" in at.code[0].value


@pytest.mark.parametrize(
    ("tab", "mark"), [("Funnel plot", "point"), ("Ranked with CIs", "bar"), ("Map", "geoshape")]
)
def test_each_explorer_tab_draws_its_own_chart(tab, mark):
    at = open_tab(start("app_pages/explorer.py", ind="123a"), tab)
    charts = at.get("vega_lite_chart")
    specs = [json.loads(c.proto.spec) for c in charts]
    assert len(specs) == 1, f"only the open tab ({tab}) is drawn"
    assert f'"type": "{mark}"' in json.dumps(specs[0])
    assert "123a" in chart_title(charts[0].proto)


def test_an_indicator_without_counts_says_where_its_values_are():
    """A score has no funnel plot (the tab the explorer opens on): the page says why and
    points to the tabs that show it, and the ranked tab draws it."""
    at = start("app_pages/explorer.py", ind="121a")
    assert not at.get("vega_lite_chart")
    message = " ".join(str(i.value) for i in at.info)
    assert "a funnel plot needs counts; 121a is a score" in message
    assert "**Ranked with CIs**" in message and "**Map**" in message
    open_tab(at, "Ranked with CIs")
    assert len(at.get("vega_lite_chart")) == 1


def chart_title(chart) -> str:
    """A chart's title as drawn: written in its spec, or (the live funnel plot) in the one-row
    ``funnel_meta`` dataset its title expression reads."""
    title = json.loads(chart.spec)["title"]
    if "expr" not in json.dumps(title):
        return json.dumps(title)
    meta = next(d for d in chart.datasets if d.name == "funnel_meta")
    return str(pa.ipc.open_stream(meta.data.data).read_pandas()["title"].iloc[0])


def test_trends_shows_planted_shift_as_special_cause():
    planted = PLANTED["shift:124b"]
    at = start("app_pages/trends.py", area=planted.area_code, ind=planted.indicator)
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


@pytest.mark.parametrize(
    "name",
    [
        "**bold** _it_ `code`",
        "[x](javascript:alert(1))",
        "<script>alert(1)</script> &lt;",
        ":red[r] :material/home:",
        "# heading",
        "1. list",
        "$x^2$ | a | b |",
        r"back\slash",
    ],
)
def test_names_from_files_are_escaped_for_markdown(name):
    import re

    import ui

    escaped = ui.md_text(name)
    # Every markdown-significant character is backslash-escaped, and unescaping gives the name.
    assert re.sub(r"\\(.)", r"\1", escaped) == name
    assert not re.search(r"(?<!\\)[*_`\[\]()<>#:$|&]", escaped.replace("\\\\", "")), escaped
