"""Overview: the national picture for a period — ratings, the tartan rug, outlier counts."""

import streamlit as st

import ui
from iaf import charts
from iaf.analysis import COMPARATORS

st.title("Overview")
ds = ui.active_dataset()
periods = ui.get_view("period_options")
labels = list(periods["period"])

with ui.controls():
    period = ui.url_widget(
        st.selectbox,
        "Reporting period",
        labels,
        default_index=len(labels) - 1,
        key="period",
        help="Each indicator shows its latest data ending on or before this.",
    )
    comparator = ui.url_widget(
        st.selectbox,
        "Compare with",
        list(COMPARATORS),
        key="cmp",
        format_func=lambda c: COMPARATORS[c].replace("its ", "Each area's "),
    )
    group_by = ui.url_widget(
        st.radio,
        "Group indicators by",
        ["domain", "clinical_priority"],
        key="group",
        format_func=lambda g: {"domain": "Domain", "clinical_priority": "Clinical priority"}[g],
    )
    regions = ["", *sorted(r for r in ds.areas["region"].astype(str).unique() if r)]
    region = ui.url_widget(
        st.selectbox,
        "Region",
        regions,
        key="region",
        format_func=lambda r: r or "All regions",
    )
    in_region = ds.areas.loc[(ds.areas["region"] == region) | (region == ""), "stp"]
    stps = ["", *sorted(s for s in in_region.astype(str).unique() if s)]
    stp = ui.url_widget(st.selectbox, "STP", stps, key="stp", format_func=lambda s: s or "All STPs")
    parent = ui.parent_filter(ds)

view = ui.get_view(
    "overview",
    period=period,
    comparator=comparator,
    region=region,
    stp=stp,
    group_by=group_by,
    parent=parent,
)
cells, counts = view["cells"], view["counts"]
st.caption(
    f"Data for {view['period']} (each indicator's latest period on or before it) · compared with "
    f"{COMPARATORS[comparator]} by the Fingertips method (the area's confidence interval against "
    "the comparator's value) · ▲ better ● similar ▼ worse · △ higher ▽ lower (no judgement) · "
    "○ not compared (no confidence interval)"
)

st.subheader("Clinical priority ratings")
rated = ui.get_view("ratings_table", period=period, by="clinical_priority")
if region:
    rated = rated.loc[rated["area_code"].isin(cells["area_code"])]
st.caption("Four-point scale from the indicator results; open an area's profile for the reasons.")
pivot = rated.pivot_table(
    index=["area_code", "area_name"], columns="group", values="rating", aggfunc="first"
).reset_index()
picked = st.dataframe(
    pivot,
    hide_index=True,
    on_select="rerun",
    selection_mode="single-row",
    key="overview_ratings",
    height=280,
    column_config={
        # Pixel widths that fit all six priorities and "Requires improvement" on a 1600-px screen.
        "area_code": st.column_config.TextColumn("Code", width=60),
        "area_name": st.column_config.TextColumn("Area", width=230),
        **{g: st.column_config.TextColumn(g, width=150) for g in pivot.columns[2:]},
    },
)
if picked and picked["selection"]["rows"]:
    row = pivot.iloc[picked["selection"]["rows"][0]]
    ui.go("app_pages/profile.py", area=row["area_code"], period=period)

st.subheader("Every area against every indicator")
if ds.area_type == "practice" and not (parent or stp):
    st.info(
        "Practice-level data: pick an STP or a CCG in the controls to draw the grid of its "
        "practices (6,500 practices × 57 indicators is too many cells to read)."
    )
elif cells.empty:
    st.warning("No data for this period and filter: try an earlier period or another region.")
else:
    finding = (
        f"{(cells['sig'] == 'worse').sum():,} of {len(cells):,} results are significantly "
        f"worse than {COMPARATORS[comparator]} and {(cells['sig'] == 'better').sum():,} "
        "better."
    )
    rug = charts.tartan_rug(
        cells, finding=finding, comparator_name=COMPARATORS[comparator], source=ui.source_label()
    )
    event = ui.altair_chart(rug, on_select="rerun", key="overview_rug")
    chosen = (event or {}).get("selection", {}).get("cell") if event else None
    if chosen:
        ui.go(
            "app_pages/profile.py",
            area=chosen[0]["area_code"],
            ind=chosen[0].get("indicator", ""),
            period=period,
        )
    with st.expander("Table of the same results (select a row to open the area)"):
        table = cells.pivot_table(
            index=["area_code", "area_name"], columns="indicator", values="sig", aggfunc="first"
        ).reset_index()
        sel = st.dataframe(
            table,
            hide_index=True,
            on_select="rerun",
            key="overview_rug_table",
            selection_mode="single-row",
        )
        if sel and sel["selection"]["rows"]:
            code = table.iloc[sel["selection"]["rows"][0]]["area_code"]
            ui.go("app_pages/profile.py", area=code, period=period)
        ui.download_table(cells, f"overview_{view['period']}", key="overview_cells")

st.subheader("Outliers and special-cause points per area")
st.caption(view["chance_note"])
sel = st.dataframe(
    counts,
    hide_index=True,
    on_select="rerun",
    selection_mode="single-row",
    key="overview_counts",
    height=320,
)
if sel and sel["selection"]["rows"]:
    code = counts.iloc[sel["selection"]["rows"][0]]["area_code"]
    ui.go("app_pages/profile.py", area=code, period=period)
ui.download_table(counts, f"outlier_counts_{view['period']}", key="overview_counts_dl")
ui.share_link(
    "overview",
    period=period,
    cmp=comparator,
    group=group_by,
    region=region,
    stp=stp,
    ccg=parent,
)
