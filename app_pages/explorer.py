"""Indicator explorer: funnel plot, ranked bars, map and outlier table for one indicator."""

import math

import streamlit as st

import ui
from iaf import charts
from iaf.analysis import COMPARATORS

st.title("Indicator explorer")
ds = ui.active_dataset()
inds = ui.get_view("indicators_view")
codes = [i.code for i in inds]
by_code = {i.code: i for i in inds}

with ui.controls():
    parent = ui.parent_filter(ds)
    # The indicator and period boxes: drawn here, in their place among the controls, by the
    # fragment below.
    choice = st.container()
    comparator = ui.url_widget(
        st.selectbox,
        "Compare with",
        list(COMPARATORS),
        key="cmp",
        format_func=lambda c: COMPARATORS[c],
    )
    limit = ui.url_widget(
        st.radio,
        "Outlier limit",
        [99.8, 95.0],
        key="limit",
        format_func=lambda v: f"{v:g}%",
        horizontal=True,
    )
    adjust = ui.url_toggle(
        "Adjust for overdispersion",
        value=True,
        key="adjust",
        help="Spiegelhalter's multiplicative/additive adjustment, applied only when phi > 1.",
    )
    k = st.number_input("Persistent: outside 99.8% in at least k …", 1, 8, 3, key="k")
    n = st.number_input("… of the last n periods", 1, 12, 4, key="n")


@st.fragment
def indicator_view() -> None:
    """Everything that depends on the indicator and period, with their two boxes.

    Changing either reruns only this function: the frame, the page list and the other
    controls are neither rebuilt nor sent to the browser again. In paired browser runs (old
    and new server side by side, changes alternated) an indicator change took a median 23 ms
    less at CCG scale (faster in 15 of 20) and 24 ms less at practice scale (10 of 12).
    The other controls are outside it, so changing one of them reruns the whole page.
    """
    with choice:
        code = ui.url_widget(
            st.selectbox,
            "Indicator",
            codes,
            key="ind",
            format_func=lambda c: by_code[c].label,
            filter_mode="fuzzy",
        )
        periods = ui.get_view("indicator_periods_view", indicator=code)
        period = ui.url_widget(
            st.selectbox,
            "Period",
            periods,
            default_index=len(periods) - 1,
            key="iperiod",
        )
    ind = by_code[code]
    focus = st.query_params.get("area", "")
    st.header(ui.md_text(f"{ind.code} {ind.name}"))
    st.caption(
        f"{ui.md_text(ind.definition)} Unit: {ui.md_text(ind.unit)}; **{ind.polarity_words}**; "
        f"{ind.frequency.replace('_', ' ')}; value type: {ind.value_type}."
    )

    # Only the open tab is built: the others cost a rerun when opened instead of on every change.
    tab_funnel, tab_bars, tab_map, tab_table = st.tabs(
        ["Funnel plot", "Ranked with CIs", "Map", "Outlier table"],
        key="explorer_tab",
        on_change="rerun",
    )
    if tab_funnel.open:
        fv = ui.get_view(
            "funnel_view",
            indicator=code,
            period=period,
            limit=float(limit),
            adjust=bool(adjust),
            parent=parent,
        )
        with tab_funnel:
            if "reason" in fv:
                where = (
                    ""
                    if ind.has_counts
                    else " Its values are ranked under **Ranked with CIs** and shaded under "
                    "**Map**."
                )
                st.info(f"No funnel plot for {period}: {ui.md_text(fv['reason'])}.{where}")
            else:
                phi = f"phi = {fv['phi']:.2f}" if math.isfinite(fv["phi"]) else "phi undefined"
                adj = (
                    f"overdispersion adjusted ({phi}, tau² = {fv['tau2']:.4g})"
                    if fv["adjusted"]
                    else f"no overdispersion adjustment ({phi})"
                )
                funnel_args = {
                    "indicator": ind,
                    "target": fv["target"],
                    "finding": fv["finding"],
                    "period": period,
                    "comparator_note": "target = the CCG's combined value"
                    if parent
                    else "target = England value",
                    "adjusted_note": adj,
                    "selected": focus or None,
                    "source": ui.source_label(),
                    "x_title": fv["x_title"],
                }
                # The finding is the chart's headline; the live chart's own description stays the
                # same from one indicator to the next (see charts.funnel_chart's ``live``).
                st.caption(
                    f"{ui.md_text(fv['finding'])} {len(fv['points']):,} areas plotted; limits 95% "
                    "(dashed) and 99.8% (solid). Click a point to open that area's profile."
                )
                # Always one element here, so the chart keeps its place (and its Vega view).
                notes = st.container()
                if fv["n_under_one"]:
                    notes.warning(
                        f"{fv['n_under_one']:,} of {len(fv['points']):,} areas expect fewer "
                        "than one event in this period: too few to judge, so their flags reflect "
                        "small numbers more than performance.",
                        icon=":material/warning:",
                    )
                # All practices: a canvas for every indicator, not only those with over 2,000.
                many = ds.area_type == "practice" and not parent
                live = charts.funnel_chart(
                    fv["points"], fv["limits"], live=True, many=many, **funnel_args
                )
                event = ui.altair_chart(live, on_select="rerun", key="funnel")
                picked = event["selection"].get("pick") if event else None
                if picked:
                    ui.go("app_pages/profile.py", area=picked[0]["area_code"])
                ui.download_chart(
                    lambda: charts.funnel_chart(fv["points"], fv["limits"], **funnel_args),
                    f"funnel_{code}_{period}",
                    key="funnel_dl",
                )
    if tab_bars.open or tab_map.open or tab_table.open:
        ranked = ui.get_view(
            "ranked_view", indicator=code, period=period, comparator=comparator, parent=parent
        )
    if tab_bars.open:
        with tab_bars:
            if ranked["value"].notna().sum() == 0:
                st.info(f"No published values for {period}: all are suppressed or missing.")
            elif ranked["value"].notna().sum() > ui.MAX_BARS:
                st.info(
                    f"{ranked['value'].notna().sum():,} areas are too many bars to read: pick a "
                    "CCG in the controls to rank its practices, or use the funnel plot and the "
                    "outlier table."
                )
            else:
                england = ranked["england"].dropna()
                finding = (
                    f"{(ranked['sig'] == 'worse').sum()} areas significantly worse and "
                    f"{(ranked['sig'] == 'better').sum()} better than {COMPARATORS[comparator]}."
                )
                bars = charts.ranked_bar_chart(
                    ranked.loc[ranked["value"].notna()],
                    indicator=ind,
                    comparator_value=float(england.iloc[0]) if len(england) else float("nan"),
                    comparator_name="England",
                    finding=finding,
                    period=period,
                    source=ui.source_label(),
                )
                ev = ui.altair_chart(bars, on_select="rerun", key="bars")
                picked = ev["selection"].get("pick") if ev else None
                if picked:
                    ui.go("app_pages/profile.py", area=picked[0]["area_code"])
                ui.download_chart(bars, f"ranked_{code}_{period}", key="bars_dl")
    if tab_map.open:
        with tab_map:
            if ds.boundaries:
                finding = (
                    f"{ind.short_name} by area, {period}, shaded by value; {ind.polarity_words}."
                )
                chart = charts.choropleth(
                    ds.boundaries["features"],
                    ranked[["area_code", "value", "sig"]],
                    indicator=ind,
                    finding=finding,
                    projection="identity" if ds.synthetic else "mercator",
                    source=ui.source_label(),
                )
                ev = ui.altair_chart(chart, on_select="rerun", key="map")
                picked = ev["selection"].get("pick") if ev else None
                if picked:
                    code_key = "area_code" if "area_code" in picked[0] else "properties.code"
                    ui.go("app_pages/profile.py", area=picked[0][code_key])
                if ds.synthetic:
                    st.caption("Demo tile map: one hexagon per fictional CCG, grouped by region.")
            else:
                st.info(
                    "No boundaries are loaded for this dataset: add a GeoJSON on the Data page."
                )
    if tab_table.open:
        with tab_table:
            table = ranked.loc[ranked["outlier"].isin(["high", "low"])].sort_values("funnel_z")
            st.caption(
                f"Areas outside the {limit:g}% funnel limits in {period}, by z-score. "
                "Select a row to open the area."
            )
            sel = st.dataframe(
                table,
                hide_index=True,
                on_select="rerun",
                selection_mode="single-row",
                key="outlier_table",
            )
            if sel and sel["selection"]["rows"]:
                ui.go(
                    "app_pages/profile.py",
                    area=table.iloc[sel["selection"]["rows"][0]]["area_code"],
                )
            ui.download_table(ranked, f"{code}_{period}", key="ranked_dl")
            st.markdown(
                f"**Persistent outliers**: outside the 99.8% limits in at least {k} of the last "
                f"{n} periods"
            )
            pers = ui.get_view("persistent", indicator=code, k=int(k), n=int(n))
            if pers.empty:
                st.write("None.")
            else:
                st.dataframe(pers, hide_index=True)
    ui.share_link(
        "explorer",
        ind=code,
        iperiod=period,
        cmp=comparator,
        limit=limit,
        adjust=adjust,
        ccg=parent,
    )


indicator_view()
