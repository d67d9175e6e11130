"""Compare: an area beside its peers across a domain or clinical priority, and why those peers."""

import streamlit as st

import ui
from iaf import charts
from iaf.catalogue import CLINICAL_PRIORITIES, DOMAINS

st.title("Compare with peers")
ds = ui.active_dataset()
ui.follow_mergers(ds)
areas = ds.areas.loc[ds.areas["code"].isin(ui.codes_with_data())]
names = dict(zip(areas["code"], areas["name"], strict=True))
codes = sorted(names, key=lambda c: names[c])
labels = list(ui.get_view("period_options")["period"])
KINDS = {
    "similar10": "Similar 10 (most similar areas)",
    "region": "Same region",
    "stp": "Same STP",
    "custom": "Hand-picked",
}

with ui.controls():
    area = ui.url_widget(
        st.selectbox,
        "Area",
        codes,
        key="area",
        format_func=lambda c: f"{names[c]} ({c})",
        filter_mode="fuzzy",
    )
    kind = ui.url_widget(st.radio, "Peers", list(KINDS), key="peers", format_func=KINDS.get)
    group = ui.url_widget(
        st.selectbox,
        "Across",
        list(CLINICAL_PRIORITIES) + list(DOMAINS),
        key="across",
    )
    period = ui.url_widget(
        st.selectbox,
        "Reporting period",
        labels,
        default_index=len(labels) - 1,
        key="period",
    )
    chosen = []
    if kind == "custom":
        chosen = st.multiselect(
            "Peers to compare with",
            [c for c in codes if c != area],
            format_func=lambda c: f"{names[c]} ({c})",
            key="custom_peers",
            max_selections=20,
        )

peer_info = ui.get_view("peer_set", area=area, kind=kind, custom=tuple(chosen))
peers = peer_info["peers"]
name = names.get(area, area)
st.header(ui.md_text(f"{name} and {len(peers)} peers: {group}"))
if not peers:
    st.info(
        ui.md_text(peer_info["explanation"])
        if kind == "similar10"
        else "No peers in this set: pick another kind of peer group or hand-pick some."
    )
    st.stop()
rows = ui.get_view("compare", area=area, peers=list(peers), period=period, group=group)
if rows.empty:
    st.info(f"No {group} indicators have data for these areas in {period}.")
else:
    finding = f"{name} (highlighted) beside {len(peers)} peers on each {group} indicator."
    chart = charts.compare_chart(rows, area_name=name, finding=finding, source=ui.source_label())
    ui.altair_chart(chart, key="compare_chart")
    st.markdown("**Does each finding hold under every comparator?**")
    st.dataframe(ui.get_view("robustness", area=area, period=period, group=group), hide_index=True)
    ui.download_table(rows, f"compare_{area}_{group}", key="compare_dl")

with st.expander("Why these peers?", expanded=kind == "similar10"):
    st.markdown(ui.md_text(peer_info["explanation"]))
    if len(peer_info["why"]):
        st.dataframe(peer_info["why"], hide_index=True)
ui.share_link("compare", area=area, peers=kind, across=group, period=period)
