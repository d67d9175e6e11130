"""The app on practice-level data: every page runs, and the explorer narrows to one CCG's practices.

A small practice dataset (300 practices under the demo CCGs, 4 periods, all 57 indicators) is
saved to a temporary store and opened by its id, as a user's saved dataset would be. The
7.4M-row practice demo is the benchmark's job (bench/), not a test's.
"""

from __future__ import annotations

import sys

import pyarrow as pa
import pytest
from streamlit.testing.v1 import AppTest

from iaf import demo
from iaf.store import Store
from tests.conftest import REPO

pytestmark = pytest.mark.timeout(600)
TIMEOUT = 300
PAGES = ["app_pages/profile.py", "app_pages/explorer.py", "app_pages/trends.py",
         "app_pages/compare.py", "app_pages/data.py", "app_pages/methods.py"]  # fmt: skip


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    import ui

    monkeypatch.setenv("IAF_STORE", str(tmp_path / "store"))
    monkeypatch.delenv("IAF_DATA", raising=False)
    main = sys.modules["__main__"]  # AppTest installs the app as __main__ (see test_app.py)
    yield
    sys.modules["__main__"] = main
    ui.store.clear()


@pytest.fixture(scope="module")
def practices():
    return demo.generate_practices(n_practices=300, n_periods=4)


def start_on(ds) -> AppTest:
    import ui

    dataset_id = Store(ui.store_dir()).save(ds, "Practices test").id
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=TIMEOUT)
    at.query_params["data"] = dataset_id
    return at.run()


def funnel_points(at: AppTest) -> set[str]:
    """The practices the funnel plot (the page's first chart) draws as points."""
    chart = at.get("vega_lite_chart")[0].proto
    assert "Control limits" in chart.spec
    drawn = [pa.ipc.open_stream(d.data.data).read_all().to_pandas() for d in chart.datasets]
    return {c for frame in drawn if "area_code" in frame for c in frame["area_code"]}


def test_every_page_runs_on_practice_data(practices) -> None:
    at = start_on(practices)
    for page in ["app_pages/overview.py", *PAGES]:
        if page != "app_pages/overview.py":
            at.switch_page(page).run()
        assert not at.exception, (page, [e.value for e in at.exception])
        assert not at.error, (page, [e.value for e in at.error])


def test_explorer_shows_one_ccgs_practices(practices) -> None:
    at = start_on(practices)
    at.switch_page("app_pages/explorer.py").run()
    assert not at.exception, [e.value for e in at.exception]
    ccg = at.selectbox(key="ccg")
    # The CCGs are offered by name (from the hierarchy's parent_name), not by bare code.
    by_code = dict(zip(practices.areas["parent"], practices.areas["parent_name"], strict=True))
    code = str(practices.areas["parent"].value_counts().index[0])  # the CCG with most practices
    assert by_code[code] in ccg.options
    everyone = funnel_points(at)
    assert len(everyone) > 50  # all practices with counts (small ones are suppressed)
    ccg.set_value(code).run()
    assert not at.exception, [e.value for e in at.exception]
    members = set(practices.areas.loc[practices.areas["parent"] == code, "code"])
    shown = funnel_points(at)
    assert shown and shown <= members and shown < everyone
    # Charts say what their numbers are: practices, not CCGs (the dataset here is synthetic).
    # (The live funnel plot's subtitle comes with its data, in the funnel_meta dataset.)
    chart = at.get("vega_lite_chart")[0].proto
    meta = next(d for d in chart.datasets if d.name == "funnel_meta")
    assert "fictional GP practices" in pa.ipc.open_stream(meta.data.data).read_pandas()["sub3"][0]
    # The link to this view keeps the CCG, so a pasted link opens the same practices.
    assert any(f"ccg={code}" in c.value for c in at.code), [c.value for c in at.code]
