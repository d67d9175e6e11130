"""Data: choose the dataset, upload and validate files, and manage saved datasets."""

import streamlit as st

import ui
from iaf import model, sources
from iaf.errors import InputError

st.title("Data")
ui.show_flash()
store = ui.store()
saved = store.list()
options = (
    [ui.DEMO_KEY, ui.PRACTICE_DEMO_KEY]
    + ([ui.FOLDER_KEY] if ui.data_dir() else [])
    + [i.id for i in saved]
)
labels = {
    ui.DEMO_KEY: "Synthetic demo data (fictional CCGs)",
    ui.PRACTICE_DEMO_KEY: "Synthetic practice-level demo (6,500 fictional practices, 7.4M values)",
    ui.FOLDER_KEY: f"Your data folder: {ui.data_dir()}",
    **{
        i.id: f"{i.name} — {i.rows:,} values, {i.areas} areas (saved {i.created:%d %b %Y %H:%M})"
        for i in saved
    },
}
current = ui.dataset_key()
choice = st.radio(
    "Dataset in use",
    options,
    index=options.index(current) if current in options else 0,
    # Radio options are markdown: a dataset's name is the user's text, so escape it.
    format_func=lambda k: ui.md_text(labels.get(k, k)),
    key="data_choice",
)
if choice != current:
    ui.set_active(choice)
    st.rerun()

st.header("Saved datasets")
if not saved:
    st.write("None yet.")
for info in saved:
    c1, c2 = st.columns([4, 1])
    c1.markdown(ui.md_text(labels[info.id]))
    if c2.button("Delete", key=f"del_{info.id}"):
        st.session_state["data_confirm_delete"] = info.id

pending = st.session_state.get("data_confirm_delete")
if pending:

    @st.dialog("Delete this dataset?")
    def _confirm() -> None:
        st.markdown(ui.md_text(f"“{labels.get(pending, pending)}” will be removed from the store."))
        if st.button("Delete", type="primary", key="del_yes"):
            store.delete(pending)
            if ui.dataset_key() == pending:
                ui.set_active(ui.DEMO_KEY)
            ui.flash(ui.md_text(f"Deleted “{labels.get(pending, pending)}”."))
            del st.session_state["data_confirm_delete"]
            st.rerun()
        if st.button("Keep it", key="del_no"):
            del st.session_state["data_confirm_delete"]
            st.rerun()

    _confirm()

st.header("Add data")
kind = st.radio(
    "What are you uploading?",
    ["values", "areas", "boundaries"],
    horizontal=True,
    key="data_kind",
    format_func={
        "values": "Indicator values",
        "areas": "Areas lookup",
        "boundaries": "Boundaries (GeoJSON)",
    }.get,
)
limit_mb = st.get_option("server.maxUploadSize")
upload = st.file_uploader(
    f"File (CSV, Excel, Parquet{', GeoJSON' if kind == 'boundaries' else ''}; up to {limit_mb} MB)",
    type=["geojson", "json"] if kind == "boundaries" else ["csv", "txt", "xlsx", "parquet"],
    key=f"data_upload_{kind}",
)
if upload is None:
    st.caption(
        "Files are checked before anything changes: a bad file is reported row by row "
        "and the data already loaded stay as they are."
    )
    st.stop()

data = upload.getvalue()
active = ui.active_dataset()
try:
    if kind == "values":
        fmt = st.radio(
            "Format",
            ["auto", "canonical", "fingertips", "mapped"],
            horizontal=True,
            key="data_format",
            format_func={
                "auto": "Recognise automatically",
                "canonical": "IAF Explorer format",
                "fingertips": "Fingertips download",
                "mapped": "Map my columns",
            }.get,
        )
        mapping: dict[str, object] = {}
        if fmt == "mapped":
            columns = ui.upload_columns(data, upload.name, None)
            st.caption(
                "Choose the column for each field, or type a fixed value (for example "
                "the period of a one-quarter file, or the IAF code of a one-indicator file)."
            )
            for target, _required in (
                ("area_code", True),
                ("period", True),
                ("indicator", True),
                ("numerator", False),
                ("denominator", False),
                ("value", False),
            ):
                c1, c2 = st.columns([2, 1])
                col = c1.selectbox(
                    target.replace("_", " ").capitalize(),
                    ["", *columns],
                    key=f"map_{target}",
                    format_func=lambda c: c or "(none / fixed value)",
                )
                fixed = c2.text_input(
                    f"fixed {target}",
                    key=f"fix_{target}",
                    label_visibility="collapsed",
                    placeholder="or a fixed value",
                )
                if col:
                    mapping[target] = col
                elif fixed:
                    mapping[target] = {"fixed": fixed}
        result = ui.upload_values(
            data,
            upload.name,
            fmt,
            tuple(
                sorted(
                    (k, v if isinstance(v, str) else ("fixed", v["fixed"]))
                    for k, v in mapping.items()
                )
            ),
            None,
        )
        report = result.report
        st.subheader("Validation report")
        st.write(
            f"**{report.n_loaded:,}** of {report.n_input_rows:,} rows loaded; "
            f"**{report.n_rejected:,}** rejected."
        )
        for p in report.problems:
            (st.error if p.severity == "error" else st.warning)(ui.md_text(p.message))
        if report.n_rejected:
            st.dataframe(report.rejected, hide_index=True, height=240)
            ui.download_table(report.rejected, f"rejected_rows_{upload.name}", key="rej_dl")
        if len(result.values):
            name = st.text_input(
                "Save as", value=upload.name.rsplit(".", 1)[0][:60], key="data_save_name"
            )
            if st.button("Save dataset", type="primary", key="data_save"):
                areas = (
                    result.areas
                    if result.areas is not None
                    else model.areas_from_values(result.values)
                )
                ds = model.Dataset(
                    values=result.values,
                    areas=areas,
                    name=name,
                    source=upload.name,
                    extra_indicators=result.extra_indicators,
                )
                info = store.save(ds, name)
                ui.set_active(info.id)
                ui.flash(ui.md_text(f"Saved “{info.name}” and switched to it."))
                st.rerun()
    elif kind == "areas":
        areas = ui.upload_areas(data, upload.name)
        st.write(f"{len(areas):,} areas read.")
        st.dataframe(areas.head(50), hide_index=True)
        if st.button("Attach to the dataset in use (saved as a new version)", key="areas_attach"):
            import dataclasses

            values, _ = sources.codes_as_in_areas(active.values, areas)
            info = store.save(dataclasses.replace(active, values=values, areas=areas), active.name)
            ui.set_active(info.id)
            ui.flash(
                ui.md_text(f"Areas attached: saved as a new version of “{info.name}”, now in use.")
            )
            st.rerun()
    else:
        known = tuple(sorted(active.areas["code"].astype(str)))
        b = ui.upload_boundaries(data, upload.name, known)
        st.write(
            f"{b.n_features} areas drawn from property “{b.code_property}”; "
            f"{len(b.matched)} match the dataset in use, {len(b.unmatched)} do not; "
            f"{b.fixed_winding} rings were re-wound for drawing."
        )
        if st.button("Attach to the dataset in use (saved as a new version)", key="geo_attach"):
            import dataclasses

            info = store.save(dataclasses.replace(active, boundaries=b.geojson), active.name)
            ui.set_active(info.id)
            ui.flash(
                ui.md_text(
                    f"Boundaries attached: saved as a new version of “{info.name}”, now in use."
                )
            )
            st.rerun()
except InputError as exc:
    st.error(f"This file was not loaded: {ui.md_text(exc)}", icon=":material/error:")
    st.caption("Nothing already loaded has changed.")
