"""Methods and definitions: every indicator's definition and every method with its references."""

from pathlib import Path

import streamlit as st

import ui
from iaf import catalogue

st.title("Methods and definitions")
tab_ind, tab_methods = st.tabs(["Indicators (Annex A)", "Statistical methods"])
with tab_ind:
    frame = catalogue.catalogue_frame()
    domain = st.selectbox("Domain", ["All", *catalogue.DOMAINS], key="methods_domain")
    if domain != "All":
        frame = frame.loc[frame["domain"] == domain]
    st.caption(
        "The 57 indicators in 29 areas under 4 domains of the CCG Improvement and "
        "Assessment Framework 2016/17 (NHS England, Annex A)."
    )
    shown = frame.assign(
        **{c: frame[c].astype(str).str.replace("_", " ") for c in ("polarity", "frequency")},
        clinical_priority=frame["clinical_priority"].fillna("—"),
    )[
        ["code", "name", "definition", "domain", "area", "clinical_priority", "polarity",
         "frequency", "value_type", "unit"]
    ]  # fmt: skip
    st.dataframe(
        shown,
        hide_index=True,
        height=min(36 * (len(shown) + 1) + 3, 1200),
        column_config={
            "code": st.column_config.TextColumn("Code", width=60),
            "name": st.column_config.TextColumn("Indicator", width="medium"),
            "definition": st.column_config.TextColumn("Definition", width="large"),
            "domain": "Domain",
            "area": "Area",
            "clinical_priority": "Clinical priority",
            "polarity": "Polarity",
            "frequency": "Frequency",
            "value_type": st.column_config.TextColumn("Value type"),
            "unit": "Unit",
        },
    )
    ui.download_table(frame, "iaf_indicators", key="methods_dl")
with tab_methods:
    doc = Path(__file__).resolve().parents[1] / "docs" / "METHODS.md"
    st.markdown(doc.read_text(encoding="utf-8"))
