"""Reliability and security of the app as a whole: no HTML sinks, hardened server settings, names
from files shown as text, user input never a path, errors with an id not a traceback, deletes
confirmed, oversized uploads refused with a clear message.

Unit-level cover lives elsewhere (``ui.md_text`` in tests/test_app.py, hostile store ids in
tests/test_store.py, the size limit in the loaders in tests/test_bad_inputs.py); these tests go
through the entry point with ``AppTest`` and through the source itself.
"""

from __future__ import annotations

import ast
import csv
import io
import logging
import re
import sys
import tomllib

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from iaf import loaders, model
from iaf.store import Store
from tests.conftest import REPO

pytestmark = pytest.mark.timeout(600)
TIMEOUT = 300
CONFIG = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text(encoding="utf-8"))
SOURCES = sorted(
    [
        REPO / "app.py",
        REPO / "ui.py",
        *(REPO / "app_pages").glob("*.py"),
        *(REPO / "iaf").rglob("*.py"),
    ]
)
PAGES = ["app_pages/profile.py", "app_pages/explorer.py", "app_pages/trends.py",
         "app_pages/compare.py", "app_pages/data.py"]  # fmt: skip
# Area names as a hostile file might carry them: HTML, markdown, a javascript: link, a
# spreadsheet formula, Streamlit directives.
HOSTILE = {
    "Z01": "<script>alert(1)</script>",
    "Z02": "**bold** _it_",
    "Z03": "[link](javascript:alert(1))",
    "Z04": '=HYPERLINK("http://evil.example","x")',
    "Z05": ":red[r] :material/home: `c`",
}
DATASET_NAME = "**hostile** <b>set</b>"


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    import ui

    monkeypatch.setenv("IAF_STORE", str(tmp_path / "store"))
    monkeypatch.delenv("IAF_DATA", raising=False)
    ui.store.clear()  # the Store is a cached resource: open this test's folder
    main = sys.modules["__main__"]  # AppTest installs the app as __main__ (see test_app.py)
    yield
    sys.modules["__main__"] = main
    ui.store.clear()


def hostile_dataset() -> model.Dataset:
    buf = io.StringIO()
    out = csv.writer(buf)
    out.writerow(["area_code", "indicator", "period", "numerator", "denominator"])
    for i, code in enumerate(HOSTILE):
        for year in (2016, 2017):
            for q in (1, 2, 3, 4):
                out.writerow([code, "101a", f"{year}/{year - 1999} Q{q}", 10 + 3 * i + q, 100])
    values = loaders.load_values(buf.getvalue().encode(), name="hostile.csv").values
    areas = model.validate_areas(
        pd.DataFrame(
            {
                "code": list(HOSTILE),
                "name": list(HOSTILE.values()),
                "region": "**Region** <i>x</i>",
                "stp": "[stp](javascript:alert(2))",
                "population": [1e5, 2e5, 3e5, 4e5, 5e5],
            }
        ),
        source="hostile areas",
    )
    return model.Dataset(values=values, areas=areas, name=DATASET_NAME, source="hostile.csv")


def saved_hostile() -> str:
    import ui

    return Store(ui.store_dir()).save(hostile_dataset(), DATASET_NAME).id


def start(**params: str) -> AppTest:
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=TIMEOUT)
    for k, v in params.items():
        at.query_params[k] = v
    return at.run()


def unescape(markdown: str) -> str:
    return re.sub(r"\\(.)", r"\1", markdown)


# ── (a) no HTML sinks ────────────────────────────────────────────────────────────────────
def html_sinks(source: str) -> list[str]:
    """Every place in ``source`` that could send raw HTML to the browser."""
    found = []
    for node in ast.walk(ast.parse(source)):
        where = f"line {getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.keyword) and node.arg == "unsafe_allow_html":
            found.append(f"{where}: unsafe_allow_html=")
        elif isinstance(node, ast.Dict) and any(
            isinstance(k, ast.Constant) and k.value == "unsafe_allow_html" for k in node.keys
        ):
            found.append(f"{where}: unsafe_allow_html in **kwargs")
        elif isinstance(node, ast.Attribute) and node.attr in {"html", "iframe"}:
            found.append(f"{where}: .{node.attr}")
        elif isinstance(node, ast.Constant) and node.value in {"html", "unsafe_allow_html"}:
            found.append(f"{where}: {node.value!r} (getattr?)")
        elif isinstance(node, ast.ImportFrom | ast.Import):
            names = [getattr(node, "module", None) or "", *(a.name for a in node.names)]
            if any("components" in n for n in names):
                found.append(f"{where}: import of streamlit components")
    return found


@pytest.mark.parametrize(
    "snippet",
    [
        "st.markdown(x, unsafe_allow_html=True)",
        "st.write(x, **{'unsafe_allow_html': True})",
        "st.html('<b>x</b>')",
        "import streamlit.components.v1 as components\ncomponents.html(x)",
        "from streamlit import components",
        "getattr(st, 'html')(x)",
        "st.components.v1.iframe(url)",
    ],
)
def test_the_scanner_sees_each_kind_of_html_sink(snippet: str) -> None:
    assert html_sinks(snippet)


def test_no_html_sink_anywhere_in_the_app_or_iaf() -> None:
    assert len(SOURCES) > 20
    found = {
        str(p.relative_to(REPO)): s for p in SOURCES if (s := html_sinks(p.read_text("utf-8")))
    }
    assert found == {}


# ── (b) server settings ──────────────────────────────────────────────────────────────────
def test_config_hardens_the_server() -> None:
    assert CONFIG["server"]["enableXsrfProtection"] is True
    assert CONFIG["client"]["showErrorDetails"] == "none"
    assert isinstance(CONFIG["server"]["maxUploadSize"], int)
    assert 0 < CONFIG["server"]["maxUploadSize"] < 200  # below Streamlit's 200 MB default
    assert CONFIG["runner"]["magicEnabled"] is False  # a bare expression never renders


def test_the_upload_limit_is_the_one_the_data_page_states_and_the_loaders_enforce() -> None:
    import ui

    limit = CONFIG["server"]["maxUploadSize"]
    at = start()
    at.switch_page("app_pages/data.py").run()
    assert not at.exception, [e.value for e in at.exception]
    labels = [u.label for u in at.get("file_uploader")]
    assert labels and all(f"up to {limit} MB" in label for label in labels), labels
    assert ui.upload_limit_bytes() == limit * 1024 * 1024


# ── (g) an upload over the limit ─────────────────────────────────────────────────────────
def test_an_upload_over_the_limit_is_refused_with_a_clear_message() -> None:
    limit = CONFIG["server"]["maxUploadSize"]
    at = start()
    at.switch_page("app_pages/data.py").run()
    big = b"area_code,indicator,period,value\n" + b"x" * ((limit + 1) * 1024 * 1024)
    at.get("file_uploader")[0].set_value(("big.csv", big, "text/csv")).run()
    assert not at.exception, [e.value for e in at.exception]
    errors = [unescape(e.value) for e in at.error]
    assert errors == [
        f"This file was not loaded: big.csv is {limit + 1}.0 MB, over the {limit}.0 MB limit "
        "for one file"
    ]
    assert "Nothing already loaded has changed." in [c.value for c in at.caption]


# ── (c) names from files render as text ──────────────────────────────────────────────────
MARKDOWN_KINDS = ("title", "header", "subheader", "markdown", "caption", "info", "warning",
                  "error", "success", "expander", "tabs", "metric", "radio", "button")  # fmt: skip


def markdown_texts(at: AppTest) -> list[str]:
    """The markdown source of everything on screen that Streamlit renders as markdown."""
    texts = []
    for kind in MARKDOWN_KINDS:
        for el in getattr(at, kind, None) or at.get(kind):
            for attr in ("value", "label", "help"):
                value = getattr(el, attr, None)
                if isinstance(value, str):
                    texts.append(value)
            texts += [str(o) for o in getattr(el, "options", None) or [] if kind == "radio"]
    return texts


def test_names_from_files_reach_the_screen_as_text_on_every_page() -> None:
    at = start(data=saved_hostile())
    raw = [*HOSTILE.values(), DATASET_NAME, "**Region**", "[stp]"]
    for page in ["app_pages/overview.py", *PAGES]:
        if page != "app_pages/overview.py":
            at.switch_page(page).run()
        assert not at.exception, (page, [e.value for e in at.exception])
        assert not at.error, (page, [e.value for e in at.error])
        texts = markdown_texts(at)
        leaked = [t for t in texts if any(r in t for r in raw)]
        assert not leaked, f"{page}: markdown carries a name unescaped: {leaked}"
        # ... and the names are there, escaped, reading exactly as written.
        shown = "\n".join(unescape(t) for t in texts)
        assert DATASET_NAME in shown, page
        if page in ("app_pages/profile.py", "app_pages/trends.py", "app_pages/compare.py"):
            assert any(n in shown for n in HOSTILE.values()), (page, shown[:500])
            # Plain-text widgets (select boxes) carry the names verbatim.
            options = at.selectbox(key="area").options
            assert {f"{n} ({c})" for c, n in HOSTILE.items()} <= set(options)


# ── (d) user input never becomes a path ──────────────────────────────────────────────────
@pytest.mark.parametrize(
    "value",
    ["../../etc/passwd", "%2e%2e", "..", "/etc/passwd", "demo\x00", "x-12345678\x00/../..",
     "..\\..\\windows", "~/.ssh/id_rsa", "folder", "file:///etc/passwd"],
    ids=["dotdot", "encoded-dotdot", "parent", "absolute", "nul", "nul-dotdot", "backslashes",
         "home", "folder-without-data-dir", "file-url"],
)  # fmt: skip
def test_a_hostile_data_parameter_falls_back_to_the_demo(value, monkeypatch, tmp_path) -> None:
    opened: list[object] = []
    real_load = Store.load
    monkeypatch.setattr(Store, "load", lambda self, i: opened.append(i) or real_load(self, i))
    at = start(data=value)
    assert not at.exception, [e.value for e in at.exception]
    warnings = [unescape(w.value) for w in at.warning]
    assert any(w.endswith("Showing the demo data instead.") for w in warnings), warnings
    assert any("Synthetic demo data" in i.value for i in at.info)
    assert "data" not in at.query_params  # the bad link is not kept in the URL
    assert opened == []  # the value never reached the store's files
    assert not list((tmp_path / "store" / "datasets").glob("*"))


# ── (e) an unexpected error: a short message with an id, also logged ────────────────────
def test_an_unexpected_error_shows_an_id_that_is_also_in_the_log(monkeypatch, caplog) -> None:
    from iaf import charts

    def broken(*args, **kwargs):
        raise RuntimeError("secret internal detail /srv/app/iaf/charts.py")

    monkeypatch.setattr(charts, "tartan_rug", broken)
    with caplog.at_level(logging.ERROR, logger="iaf.app"):
        at = start()
    assert not at.exception, [e.value for e in at.exception]
    (message,) = [e.value for e in at.error]
    match = re.fullmatch(
        r"Something went wrong on this page \(error id ([0-9a-f]{8})\)\. The error was logged; "
        r"other pages and your data are unaffected\.",
        message,
    )
    assert match, message
    records = [r for r in caplog.records if r.name == "iaf.app" and match[1] in r.getMessage()]
    assert len(records) == 1
    assert records[0].exc_info and "secret internal detail" in str(records[0].exc_info[1])
    assert at.title[0].value == "Overview"  # the page got as far as it could
    assert any("Dataset:" in c.value for c in at.sidebar.caption)  # the frame is intact
    monkeypatch.undo()
    at.run()
    assert not at.error, [e.value for e in at.error]


# ── (f) deleting a dataset asks first ────────────────────────────────────────────────────
def test_deleting_a_saved_dataset_asks_first_and_keep_it_keeps_it() -> None:
    import ui

    dataset_id = saved_hostile()
    store = Store(ui.store_dir())
    at = start()
    at.switch_page("app_pages/data.py").run()
    at.button(key=f"del_{dataset_id}").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert store.exists(dataset_id), "one click on Delete must not delete"
    asked = "\n".join(unescape(m.value) for m in at.markdown)
    assert f"“{DATASET_NAME}" in asked and "will be removed from the store" in asked, asked
    at.button(key="del_no").click().run()
    assert store.exists(dataset_id)
    assert "will be removed" not in "\n".join(m.value for m in at.markdown)

    at.button(key=f"del_{dataset_id}").click().run()
    at.button(key="del_yes").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert not store.exists(dataset_id)
    assert any(unescape(s.value).startswith(f"Deleted “{DATASET_NAME}") for s in at.success)
