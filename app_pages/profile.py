"""CCG profile: one area's ratings, every indicator against its comparators, what changed."""

import streamlit as st

import ui
from iaf import charts
from iaf.analysis import COMPARATORS

st.title("CCG profile")
ds = ui.active_dataset()
ui.follow_mergers(ds)
areas = ds.areas.loc[ds.areas["code"].isin(ui.codes_with_data())]
names = dict(zip(areas["code"], areas["name"], strict=True))
codes = sorted(names, key=lambda c: names[c])
labels = list(ui.get_view("period_options")["period"])

with ui.controls():
    area = ui.url_widget(
        st.selectbox,
        "Area (type a name or code)",
        codes,
        key="area",
        format_func=lambda c: f"{names[c]} ({c})",
        filter_mode="fuzzy",
    )
    period = ui.url_widget(
        st.selectbox,
        "Reporting period",
        labels,
        default_index=len(labels) - 1,
        key="period",
    )
    comparator = ui.url_widget(
        st.selectbox,
        "Compare with",
        list(COMPARATORS),
        key="cmp",
        format_func=lambda c: COMPARATORS[c],
    )

name = names.get(area, area)
st.header(ui.md_text(f"{name} ({area})"))
info = areas.loc[areas["code"] == area].iloc[0] if area in names else None
if info is not None:
    facts = [
        f"Region: {info['region']}" if info["region"] else "",
        f"STP: {info['stp']}" if info["stp"] else "",
        f"Population: {info['population']:,.0f}"
        if info["population"] == info["population"]
        else "",
    ]
    st.caption(ui.md_text(" · ".join(f for f in facts if f)))
rows = ui.get_view("profile", area=area, period=period, comparator=comparator)
if rows.empty:
    st.warning(
        f"No data for {ui.md_text(name)} on or before {period}. If it merged into another CCG, "
        "pick the successor: its profile carries the combined history."
    )
    st.stop()

# Each rating as a word with its own icon, so colour is never the only cue.
RATING_BADGES = {
    "Outstanding": (":material/star:", "blue"),
    "Good": (":material/check_circle:", "green"),
    "Requires improvement": (":material/warning:", "orange"),
    "Inadequate": (":material/cancel:", "red"),
}
st.subheader("Headline ratings")
for by, title in (("clinical_priority", "Clinical priorities"), ("domain", "Domains")):
    rated = ui.get_view("ratings_table", period=period, by=by)
    mine = rated.loc[rated["area_code"] == area]
    st.markdown(f"**{title}**")
    # At most four cards a row, so "Requires improvement" fits on a projector at 1280 px.
    per_row = 3 if len(mine) > 4 else max(len(mine), 1)
    cols = [c for _ in range(-(-len(mine) // per_row)) for c in st.columns(per_row)]
    for col, (_, r) in zip(cols, mine.iterrows(), strict=False):
        with col, st.container(border=True):
            st.markdown(f"**{r['group']}**")
            glyph, colour = RATING_BADGES.get(r["rating"], (":material/remove:", "gray"))
            st.badge(r["rating"], icon=glyph, color=colour)
            with st.popover("Why?"):
                st.write(r["explanation"])

st.subheader(f"Every indicator, {rows.attrs.get('period', period)}")
st.caption(
    f"Compared with {COMPARATORS[comparator]} at 99.8% (Fingertips method). "
    "Select a row to open the indicator."
)
spine_rows = rows.loc[rows["value"].notna() & rows["england"].notna()]
if not spine_rows.empty:
    finding = (
        f"{name}: {(rows['sig'] == 'worse').sum()} indicators significantly worse and "
        f"{(rows['sig'] == 'better').sum()} better than {COMPARATORS[comparator]}."
    )
    spine = charts.spine_chart(
        spine_rows, area_name=name, finding=finding, source=ui.source_label()
    )
    ui.altair_chart(spine, key="profile_spine")
show = rows[
    [
        "domain",
        "framework_area",
        "indicator",
        "name",
        "period",
        "value",
        "lower_95",
        "upper_95",
        "comparator_value",
        "england",
        "sig",
        "rank",
        "n_ranked",
        "trend",
        "spc_point_type",
        "narrative",
    ]
]
picked = st.dataframe(
    show,
    hide_index=True,
    on_select="rerun",
    selection_mode="single-row",
    key="profile_table",
    column_config={
        "domain": "Domain",
        "framework_area": "Area of the framework",
        "indicator": st.column_config.TextColumn("Indicator", width=80),
        "name": st.column_config.TextColumn("Name", width="medium"),
        "period": "Period",
        "sig": "Compared",
        "n_ranked": st.column_config.NumberColumn("of", format="%d"),
        "trend": "Recent trend",
        "spc_point_type": "SPC (latest point)",
        "value": st.column_config.NumberColumn("Value", format="%.2f"),
        "lower_95": st.column_config.NumberColumn("95% CI low", format="%.2f"),
        "upper_95": st.column_config.NumberColumn("95% CI high", format="%.2f"),
        "comparator_value": st.column_config.NumberColumn("Comparator", format="%.2f"),
        "england": st.column_config.NumberColumn("England", format="%.2f"),
        "rank": st.column_config.NumberColumn("Rank", format="%d"),
        "narrative": st.column_config.TextColumn("Finding", width="large"),
    },
)
if picked and picked["selection"]["rows"]:
    r = show.iloc[picked["selection"]["rows"][0]]
    ui.go("app_pages/explorer.py", ind=r["indicator"], iperiod=r["period"], area=area)
ui.download_table(rows.drop(columns=["label"]), f"profile_{area}", key="profile_dl")

st.subheader("What changed since the previous period")
changed = ui.get_view("what_changed_for_area", area=area, period=period, comparator=comparator)
if changed.empty:
    st.write("No indicator changed its significance class or turned special cause.")
else:
    st.dataframe(
        changed,
        hide_index=True,
        column_config={
            "indicator": st.column_config.TextColumn("Indicator", width=80),
            "name": st.column_config.TextColumn("Name", width="medium"),
            "from_period": "From",
            "to_period": "To",
            "was": "Was",
            "now": "Now",
            "value_before": st.column_config.NumberColumn("Value before", format="%.2f"),
            "value_now": st.column_config.NumberColumn("Value now", format="%.2f"),
            "spc_now": "SPC now",
        },
    )

st.subheader("Area pack")
from iaf import packs  # noqa: E402  (only this page builds packs)

c1, c2 = st.columns(2)
c1.download_button(
    "PowerPoint pack",
    icon=":material/slideshow:",
    on_click="ignore",
    data=lambda: packs.area_pack_pptx(ds, ui.analysis(), area=area, period=period),
    file_name=f"iaf_pack_{area}.pptx",
    key="pack_pptx",
    mime="application/vnd.openxmlformats-officedocument.presentationml.presentation",
)
c2.download_button(
    "PDF pack",
    icon=":material/picture_as_pdf:",
    on_click="ignore",
    data=lambda: packs.area_pack_pdf(ds, ui.analysis(), area=area, period=period),
    file_name=f"iaf_pack_{area}.pdf",
    mime="application/pdf",
    key="pack_pdf",
)
ui.share_link("profile", area=area, period=period, cmp=comparator)
