"""Methods and definitions: every indicator's definition and every method with its references."""

from pathlib import Path

import streamlit as st

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
    st.dataframe(
        frame,
        hide_index=True,
        height=600,
        column_config={"definition": st.column_config.TextColumn(width="large")},
    )
with tab_methods:
    doc = Path(__file__).resolve().parents[1] / "docs" / "METHODS.md"
    st.markdown(doc.read_text(encoding="utf-8"))
