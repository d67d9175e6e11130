"""The cached edge between Streamlit and ``iaf``: data sources, caches, the page frame.

Expensive pure functions of ``iaf`` are wrapped here once (``st.cache_resource`` for the shared
dataset and analysis — one copy for all sessions — and ``st.cache_data`` for small per-view
frames). Pages read widgets, call these, and draw. Session state holds only what is truly
per-session (the active dataset's key, presentation mode), with page-prefixed keys.
"""

from __future__ import annotations

import argparse
import functools
import gc
import logging
import os
import re
import sys
import uuid
from pathlib import Path

import pandas as pd
import streamlit as st
from streamlit.runtime.scriptrunner_utils.exceptions import ScriptControlException

from iaf import analysis as an
from iaf import demo, sources, views
from iaf.errors import InputError
from iaf.model import Dataset
from iaf.store import Store

log = logging.getLogger("iaf.app")
REPO = Path(__file__).resolve().parent
DEMO_KEY = "demo"
PRACTICE_DEMO_KEY = "demo-practices"
FOLDER_KEY = "folder"
MAX_BARS = 400  # a ranked bar chart beyond this is unreadable on a projector


# ── where data comes from ────────────────────────────────────────────────────────────────
@functools.lru_cache(maxsize=4)
def _cli_data(argv: tuple[str, ...]) -> str | None:
    """``--data`` from the command line (parsed once: every rerun asks, several times)."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--data")
    args, _ = parser.parse_known_args(list(argv))
    return args.data


def data_dir() -> Path | None:
    """The user's own data folder: ``--data DIR`` after ``--``, or ``$IAF_DATA``."""
    value = _cli_data(tuple(sys.argv[1:])) or os.environ.get("IAF_DATA")
    return Path(value).expanduser().resolve() if value else None


def store_dir() -> Path:
    return Path(os.environ.get("IAF_STORE", REPO / "store")).expanduser().resolve()


@st.cache_resource(show_spinner="Generating the synthetic demo data…")
def demo_dataset() -> Dataset:
    return sources.on_current_structure(demo.generate())


@st.cache_resource(show_spinner="Generating 7.4 million synthetic practice-level values…")
def practice_demo_dataset() -> Dataset:
    return demo.generate_practices()


@st.cache_resource(show_spinner="Loading your data folder…")
def folder_dataset(path: str) -> tuple[Dataset, tuple]:
    ds, reports = sources.load_folder(Path(path))
    return sources.on_current_structure(ds), reports


@st.cache_resource
def store() -> Store:
    return Store(store_dir())


@st.cache_resource(max_entries=4, show_spinner="Loading the saved dataset…")
def stored_dataset(dataset_id: str, version: str) -> Dataset:
    return sources.on_current_structure(store().load(dataset_id))


def default_key() -> str:
    return FOLDER_KEY if data_dir() else DEMO_KEY


def dataset_key() -> str:
    """The active dataset: the URL's ``data`` parameter, else this session's choice."""
    key = st.query_params.get("data") or st.session_state.get("data_active") or default_key()
    return str(key)


def dataset_for(key: str) -> Dataset:
    if key == DEMO_KEY:
        return demo_dataset()
    if key == PRACTICE_DEMO_KEY:
        return practice_demo_dataset()
    if key == FOLDER_KEY and data_dir() is not None:
        return folder_dataset(str(data_dir()))[0]
    info = {i.id: i for i in store().list()}.get(key)
    if info is None:
        raise InputError(f"no saved dataset called {key!r}: it may have been deleted")
    return stored_dataset(info.id, str(info.created))


def active_dataset() -> Dataset:
    key = dataset_key()
    try:
        return dataset_for(key)
    except InputError as exc:
        st.warning(f"{md_text(exc)}. Showing the demo data instead.", icon=":material/warning:")
        st.session_state["data_active"] = DEMO_KEY
        if "data" in st.query_params:
            del st.query_params["data"]
        return demo_dataset()


@st.cache_resource(max_entries=4, show_spinner="Computing every statistic for every area…")
def _analysis(key: str, stamp: str) -> an.Analysis:
    result = an.analyse(dataset_for(key))
    # The analysis leaves Python's collector owing a full pass (about 80 ms at practice scale,
    # seen landing in the second click after a load): take it here, while the page is loading.
    gc.collect()
    return result


def analysis() -> an.Analysis:
    key = dataset_key()
    ds = active_dataset()
    return _analysis(key, f"{ds.name}|{len(ds.values)}")


@st.cache_data(max_entries=8, show_spinner=False)
def _codes_with_data(key: str, stamp: str) -> frozenset[str]:
    codes = dataset_for(key).values["area_code"]
    if isinstance(codes.dtype, pd.CategoricalDtype):
        return frozenset(map(str, codes.cat.remove_unused_categories().cat.categories))
    return frozenset(map(str, codes.unique()))


def codes_with_data() -> frozenset[str]:
    """Codes of the areas that have any values: computed once per dataset, not per click
    (at practice scale a pass over 7.4M codes costs about a second)."""
    key = dataset_key()
    ds = active_dataset()
    return _codes_with_data(key, f"{ds.name}|{len(ds.values)}")


# ── per-view frames (small, cached per view) ─────────────────────────────────────────────
@st.cache_data(max_entries=512, show_spinner=False)
def view(view_name: str, data_key: str, data_stamp: str, **params: object) -> object:
    """Any per-view frame from ``iaf.views``, cached on all its parameters.

    (Streamlit leaves ``_``-prefixed parameters out of the cache key, so none are used here.)
    """
    ds = dataset_for(data_key)
    result = _analysis(data_key, data_stamp)
    return getattr(views, view_name)(ds, result, **params)


def get_view(view_name: str, **params: object) -> object:
    key = dataset_key()
    ds = active_dataset()
    return view(view_name, key, f"{ds.name}|{len(ds.values)}", **params)


# ── the frame around every page ──────────────────────────────────────────────────────────
def presentation_mode() -> bool:
    return st.query_params.get("present") == "1"


def controls():
    """Where a page puts its controls: the sidebar, or a folded panel in presentation mode."""
    if presentation_mode():
        return st.expander("Controls", icon=":material/tune:", expanded=False)
    return st.sidebar


# The ASCII punctuation that can start markdown syntax (emphasis, links, code, HTML, entities,
# headings, lists, tables, maths) plus ':' (Streamlit's :color[…] and :material/…: directives);
# CommonMark lets a backslash escape each of them. Commas, quotes and ';' stay as they are.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~:$&^=])")


def md_text(value: object) -> str:
    """``value`` as literal text inside markdown: names from files never become formatting,
    links or directives (``**x**``, ``[a](javascript:…)``, ``:red[x]``, ``<script>``)."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", str(value))


def frame(page) -> None:
    ds = active_dataset()
    if ds.synthetic:
        st.info(
            "**Synthetic demo data** — fictional CCGs and numbers, generated for demonstration. "
            "Not real NHS data.",
            icon=":material/science:",
        )
    if presentation_mode():
        if st.button("Leave presentation mode", icon=":material/close_fullscreen:"):
            del st.query_params["present"]
            st.rerun()
        return
    with st.sidebar:
        st.caption(f"Dataset: **{md_text(ds.name)}** ({len(ds.values):,} values)")
        if st.button(
            "Presentation mode",
            icon=":material/open_in_full:",
            help="Hide the controls for a meeting; every view stays a link.",
        ):
            st.query_params["present"] = "1"
            st.rerun()


def run_page(page) -> None:
    """Run a page; an unexpected error shows a short message with an id, never a traceback."""
    try:
        page.run()
    except ScriptControlException:
        raise
    except InputError as exc:
        st.error(md_text(exc), icon=":material/error:")
    except Exception:
        error_id = uuid.uuid4().hex[:8]
        log.exception("unexpected error %s on page %s", error_id, getattr(page, "title", "?"))
        st.error(
            f"Something went wrong on this page (error id {error_id}). The error was logged; "
            "other pages and your data are unaffected.",
            icon=":material/error:",
        )


def link_params(**params: object) -> dict[str, str]:
    """Every parameter of a view written explicitly (defaults included) for a pasted link."""
    out = {k: str(v) for k, v in params.items() if v not in (None, "")}
    key = dataset_key()
    if key != default_key():
        out["data"] = key
    return out


def share_link(page_path: str, **params: object) -> None:
    """Show the link to this exact view, to paste into emails and agendas."""
    query = "&".join(f"{k}={v}" for k, v in link_params(**params).items())
    st.caption("Link to this view")
    st.code(f"/{page_path}?{query}", language=None)


def download_table(frame: pd.DataFrame, name: str, *, key: str) -> None:
    """CSV and Excel downloads of a table, both safe against formula injection."""
    from iaf import exports

    # One horizontal row: one block, not a row of two columns (three blocks) to redraw.
    row = st.container(horizontal=True)
    row.download_button(
        "Download CSV",
        data=lambda: exports.to_csv_bytes(frame),
        file_name=f"{name}.csv",
        mime="text/csv",
        key=f"{key}_csv",
        on_click="ignore",
        icon=":material/download:",
    )
    row.download_button(
        "Download Excel",
        data=lambda: exports.to_excel_bytes(frame, name[:31]),
        file_name=f"{name}.xlsx",
        key=f"{key}_xlsx",
        on_click="ignore",
        mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        icon=":material/table_view:",
    )


class _Unvalidated:
    """An Altair chart whose spec Streamlit takes without a jsonschema validation of it.

    ``st.altair_chart`` calls ``chart.to_dict()``, which validates the whole spec against the
    Vega-Lite schema on every rerun: about two thirds of the conversion of a funnel plot. The
    builders' specs are validated by the chart tests, and validation never changes a spec.
    """

    def __init__(self, chart) -> None:
        self.chart = chart

    def to_dict(self) -> dict:
        return self.chart.to_dict(validate=False)


def altair_chart(chart, **kwargs):
    """``st.altair_chart(chart, **kwargs)`` without validating the spec again on each rerun;
    a chart already written as a Vega-Lite dict (``charts.funnel_chart(live=True)``) goes to
    ``st.vega_lite_chart`` as it is."""
    if isinstance(chart, dict):
        return st.vega_lite_chart(spec=chart, **kwargs)
    return st.altair_chart(_Unvalidated(chart), **kwargs)


def download_chart(chart, name: str, *, key: str) -> None:
    """PNG and SVG downloads of ``chart`` (or of what a zero-argument callable builds, only
    when a download is asked for)."""
    from iaf import exports

    def built():
        return chart() if callable(chart) else chart

    row = st.container(horizontal=True)
    row.download_button(
        "Chart as PNG",
        data=lambda: exports.chart_png(built()),
        file_name=f"{name}.png",
        mime="image/png",
        key=f"{key}_png",
        on_click="ignore",
        icon=":material/image:",
    )
    row.download_button(
        "Chart as SVG",
        data=lambda: exports.chart_svg(built()),
        file_name=f"{name}.svg",
        mime="image/svg+xml",
        key=f"{key}_svg",
        on_click="ignore",
        icon=":material/draw:",
    )


def upload_limit_bytes() -> int:
    """The upload limit set in .streamlit/config.toml, enforced again by the loaders."""
    return int(st.get_option("server.maxUploadSize")) * 1024 * 1024


# ── uploads (parsed once per file and settings; the bytes live in the uploader widget) ──
@st.cache_data(max_entries=8, show_spinner="Reading the file…")
def upload_columns(data: bytes, name: str, sheet: str | None) -> list[str]:
    from iaf import loaders

    frame = loaders.read_table(data, name=name, sheet=sheet, max_bytes=upload_limit_bytes())
    return [c for c in frame.columns if c != "source_row"]


@st.cache_data(max_entries=8, show_spinner="Validating the file…")
def upload_values(data: bytes, name: str, fmt: str, mapping: tuple, sheet: str | None):
    from iaf import loaders

    return loaders.load_values(
        data,
        name=name,
        format=fmt,
        mapping=dict(mapping) or None,
        sheet=sheet,
        max_bytes=upload_limit_bytes(),
    )


@st.cache_data(max_entries=8, show_spinner="Reading the boundaries…")
def upload_boundaries(data: bytes, name: str, known: tuple[str, ...]):
    from iaf import geo

    return geo.load_boundaries(
        data, name=name, known_codes=set(known) or None, max_bytes=upload_limit_bytes()
    )


@st.cache_data(max_entries=8, show_spinner="Reading the areas lookup…")
def upload_areas(data: bytes, name: str):
    from iaf import loaders

    return loaders.load_areas(data, name=name, max_bytes=upload_limit_bytes())


def set_active(key: str) -> None:
    st.session_state["data_active"] = key
    # The Data page's radio keeps its own state; forget it so it shows the new choice.
    st.session_state.pop("data_choice", None)
    if key == default_key():
        if "data" in st.query_params:
            del st.query_params["data"]
    else:
        st.query_params["data"] = key


def flash(message: str) -> None:
    """A success message shown once, on the next run (it survives ``st.rerun``)."""
    st.session_state["flash"] = message


def show_flash() -> None:
    message = st.session_state.pop("flash", None)
    if message:
        st.success(message, icon=":material/check_circle:")


def follow_mergers(ds: Dataset) -> None:
    """A link to a CCG that has since merged opens its successor, saying so."""
    area = st.query_params.get("area")
    if not area or area in codes_with_data():
        return
    merged = sources.merged_into(ds, area)
    if merged:
        successor, when = merged
        names = ds.areas.set_index("code")["name"]
        st.info(
            md_text(
                f"{names.get(area, area)} ({area}) merged into {names.get(successor, successor)} "
                f"({successor}) on {when}; its history is shown on the successor's footprint."
            ),
            icon=":material/merge:",
        )
        st.query_params["area"] = successor


def source_label() -> str:
    """The source line every chart carries, so a saved PNG says where its numbers came from."""
    ds = active_dataset()
    if ds.synthetic:
        kind = "GP practices" if ds.area_type == "practice" else "CCGs"
        return f"synthetic demo data (fictional {kind}), generated by IAF Explorer"
    return ds.source or ds.name


# ── widgets that live in the URL ─────────────────────────────────────────────────────────
def url_widget(widget, label: str, options, *, key: str, default_index: int = 0, **kwargs):
    """A selectbox or radio whose value is also the URL parameter ``key`` (the raw value).

    A changed URL (a pasted link, the back button) sets the widget; a changed widget rewrites
    the URL. Streamlit's own ``bind`` writes the formatted label into the URL, so links would
    carry "NHS … CCG (00C)" instead of "00C"; this keeps links short and stable.
    """
    options = list(options)
    written = st.session_state.setdefault("_url_written", {})
    raw = st.query_params.get(key)
    if raw is not None and (raw != written.get(key) or key not in st.session_state):
        match = next((o for o in options if str(o) == raw), None)
        if match is not None:
            st.session_state[key] = match
    if key in st.session_state and st.session_state[key] not in options:
        # e.g. a quarter kept from a quarterly indicator when an annual one is chosen: set the
        # default in the state (deleting it left the box showing the old choice in the browser)
        if options:
            st.session_state[key] = options[min(max(default_index, 0), len(options) - 1)]
        else:
            del st.session_state[key]
    if key in st.session_state:
        value = widget(label, options, key=key, **kwargs)
    else:
        index = min(max(default_index, 0), len(options) - 1) if options else 0
        value = widget(label, options, index=index, key=key, **kwargs)
    if value is not None:
        keep_in_url(**{key: value})
    else:
        written[key] = None
    return value


def keep_in_url(**params: object) -> None:
    """Write the values of URL-bound controls to the URL, where they differ from it (each
    write is a message to the browser and an entry in its history)."""
    written = st.session_state.setdefault("_url_written", {})
    for key, value in params.items():
        text = str(value)
        if st.query_params.get(key) != text:
            st.query_params[key] = text
        written[key] = text


def url_toggle(label: str, *, key: str, value: bool = False, **kwargs) -> bool:
    """A toggle kept in the URL as 1/0."""
    written = st.session_state.setdefault("_url_written", {})
    raw = st.query_params.get(key)
    if raw in ("1", "0", "True", "False") and raw != written.get(key):
        st.session_state[key] = raw in ("1", "True")
    if key in st.session_state:
        on = st.toggle(label, key=key, **kwargs)
    else:
        on = st.toggle(label, value=value, key=key, **kwargs)
    keep_in_url(**{key: "1" if on else "0"})
    return on


def go(page: str, **params: object) -> None:
    """Open ``page`` showing ``params`` (area, indicator, period …): a drill-down click."""
    for key, value in params.items():
        if value not in (None, ""):
            st.session_state[key] = value
    st.switch_page(page, query_params=link_params(**params))


@st.cache_resource(max_entries=8, show_spinner=False)
def _parent_choices(key: str, stamp: str) -> tuple[list[str], dict[str, str]]:
    """The CCGs that have practices, and every area's name by code: once per dataset, not per
    click (at practice scale a dict of 6,500 names from text columns costs tens of ms)."""
    areas = dataset_for(key).areas
    parents = sorted(p for p in areas["parent"].astype(str).unique() if p)
    names = dict(zip(areas["code"].astype(str), areas["name"].astype(str), strict=True))
    if "parent_name" in areas.columns:  # the CCG names, from the practice hierarchy
        named = areas.loc[areas["parent_name"].notna(), ["parent", "parent_name"]]
        names |= named.astype(str).set_index("parent")["parent_name"].to_dict()
    return parents, names


def parent_filter(ds: Dataset) -> str:
    """For practice-level data, the CCG whose practices a page shows ("" = all practices)."""
    if ds.area_type != "practice":
        return ""
    parents, names = _parent_choices(dataset_key(), f"{ds.name}|{len(ds.values)}")
    return url_widget(
        st.selectbox,
        "Practices in CCG",
        ["", *parents],
        key="ccg",
        format_func=lambda c: names.get(c, c) if c else "All practices",
        help="Practice-level data: show one CCG's practices (outliers within a CCG).",
    )
