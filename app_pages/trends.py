"""Trends: SPC for an area × indicator, small multiples, and what changed nationally."""

import streamlit as st

import ui
from iaf import charts

st.title("Trends")
ds = ui.active_dataset()
ui.follow_mergers(ds)
areas = ds.areas.loc[ds.areas["code"].isin(ui.codes_with_data())]
names = dict(zip(areas["code"], areas["name"], strict=True))
codes = sorted(names, key=lambda c: names[c])
inds = ui.get_view("indicators_view")
by_code = {i.code: i for i in inds}

with ui.controls():
    area = ui.url_widget(
        st.selectbox,
        "Area",
        codes,
        key="area",
        format_func=lambda c: f"{names[c]} ({c})",
        filter_mode="fuzzy",
    )
    code = ui.url_widget(
        st.selectbox,
        "Indicator",
        list(by_code),
        key="ind",
        format_func=lambda c: by_code[c].label,
        filter_mode="fuzzy",
    )
    periods = ui.get_view("indicator_periods_view", indicator=code)
    rebase = st.multiselect("Rebase at (new mean and limits from)", periods, key="rebase")
    target_on = st.toggle("Set a target", key="target_on")
    target = st.number_input("Target", value=0.0, key="target") if target_on else None
    rules = ui.url_widget(
        st.radio,
        "Rules",
        ["2019", "2023"],
        key="rules",
        format_func=lambda r: {
            "2019": "Making Data Count (NHSRplotthedots)",
            "2023": "MDC Nov 2023: beyond 3σ counts in 2-of-3",
        }[r],
    )

ind = by_code[code]
name = names.get(area, area)
st.header(ui.md_text(f"{ind.code} {ind.short_name} — {name}"))
sv = ui.get_view(
    "spc_view", area=area, indicator=code, rebase=tuple(rebase), target=target, rules=rules
)
if "reason" in sv:
    st.info(
        ui.md_text(
            f"No SPC chart: {sv['reason']}. If {name} merged, its successor carries the data."
        )
    )
else:
    chart = charts.spc_chart(
        sv["points"],
        indicator=ind,
        finding=sv["finding"],
        target=target,
        area_name=name,
        variation=str(sv["summary"]["variation_type_last_point"].iloc[-1]),
        assurance=str(sv["summary"]["assurance_type"].iloc[-1]) if target is not None else None,
        source=ui.source_label(),
    )
    ui.altair_chart(chart, key="spc")
    st.caption(
        sv["finding"]
        + (
            f" {sv['n_suppressed']} suppressed points are shown as gaps."
            if sv["n_suppressed"]
            else ""
        )
    )
    ui.download_chart(chart, f"spc_{area}_{code}", key="spc_dl")
    with st.expander("Table of the chart"):
        st.dataframe(sv["points"], hide_index=True)

st.subheader(ui.md_text(f"All of {name}'s indicators"))
sm = ui.get_view("small_multiples", area=area)
finding = f"Every indicator for {name} over time, coloured by SPC point type."
ui.altair_chart(
    charts.small_multiples(sm, area_name=name, finding=finding, source=ui.source_label()),
    key="multiples",
)

st.subheader("What changed nationally")
changes = ui.get_view("national_changes", period=None)
st.caption("Areas whose latest point is special cause (Making Data Count rules).")
sel = st.dataframe(
    changes, hide_index=True, on_select="rerun", selection_mode="single-row", key="changes"
)
if sel and sel["selection"]["rows"]:
    r = changes.iloc[sel["selection"]["rows"][0]]
    ui.go("app_pages/trends.py", area=r["area_code"], ind=r["indicator"])
ui.download_table(changes, "special_cause_latest", key="changes_dl")

st.subheader(ui.md_text(f"National trend: {ind.short_name}"))
nat = ui.get_view("national_trend", indicator=code)
finding = f"England value of {ind.short_name} over time ({ind.polarity_words})."
ui.altair_chart(
    charts.national_trend(nat, indicator=ind, finding=finding, source=ui.source_label()),
    key="national",
)
ui.share_link("trends", area=area, ind=code, rules=rules)
