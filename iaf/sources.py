"""Datasets from where the user keeps them: a folder of files, and the current CCG structure.

``load_folder`` recognises each file in a folder (indicator values in IAF Explorer's format or a
Fingertips download, an areas lookup, GeoJSON boundaries, an ODS successor file) and builds one
dataset, reporting every file's problems. ``on_current_structure`` rolls a dataset forward to
its latest CCG structure so that trends across a merger appear on the successor's footprint.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pandas as pd

from iaf import geo, loaders, mergers, model
from iaf.errors import InputError
from iaf.model import Dataset, Problem, ValidationReport

TABLE_SUFFIXES = {".csv", ".txt", ".xlsx", ".parquet"}
GEO_SUFFIXES = {".geojson", ".json"}
SUCCESSOR_COLUMNS = {"from", "to", "legal_start"}


def _file_report(path: Path, message: str, severity: str = "error") -> ValidationReport:
    return ValidationReport(
        source=path.name,
        n_input_rows=0,
        n_loaded=0,
        problems=(Problem("file", message, severity),),
    )


def load_folder(folder: Path) -> tuple[Dataset, tuple[ValidationReport, ...]]:
    """One dataset from every recognisable file in ``folder`` (not its subfolders)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder}: no such folder")
    reports: list[ValidationReport] = []
    values, extras, area_frames, lookups = [], [], [], []
    boundaries_files, successors = [], None
    for path in sorted(p for p in folder.iterdir() if p.is_file()):
        suffix = path.suffix.lower()
        try:
            if suffix in GEO_SUFFIXES:
                boundaries_files.append(path)
            elif suffix in TABLE_SUFFIXES:
                head = loaders.read_table(path, name=path.name)
                columns = {str(c).strip().lower() for c in head.columns}
                fmt = loaders.detect_format(head)
                if columns >= SUCCESSOR_COLUMNS:
                    successors = mergers.load_successors(path, name=path.name)
                elif fmt in ("canonical", "fingertips"):
                    result = loaders.load_values(path, name=path.name)
                    values.append(result.values)
                    extras.extend(result.extra_indicators)
                    reports.append(result.report)
                    if result.areas is not None:
                        area_frames.append(result.areas)
                else:
                    lookups.append(loaders.load_areas(path, name=path.name))
        except InputError as exc:
            reports.append(_file_report(path, str(exc)))
    if not values:
        raise InputError(
            f"{folder}: no indicator values found (expected CSV, Excel or Parquet files in IAF "
            "Explorer's format or Fingertips downloads)"
        )
    all_values = model.concat_values(values)
    if lookups:
        areas = pd.concat(lookups, ignore_index=True).drop_duplicates("code")
    elif area_frames:
        areas = pd.concat(area_frames, ignore_index=True).drop_duplicates("code")
    else:
        areas = model.areas_from_values(all_values)
    areas = model.validate_areas(areas, source=f"{folder.name} areas")
    all_values, recoded = codes_as_in_areas(all_values, areas)
    if recoded:
        reports.append(
            _file_report(
                folder,
                f"{recoded:,} rows gave ONS area codes (E38…); they were matched to the areas "
                "lookup's ODS codes through its ONS code column",
                "warning",
            )
        )
    boundaries = None
    known = set(areas["code"].astype(str))
    for path in boundaries_files:
        try:
            b = geo.load_boundaries(path, name=path.name, known_codes=known)
            boundaries = b.geojson
        except InputError as exc:
            reports.append(_file_report(path, str(exc)))
    ds = Dataset(
        values=model.sort_values(all_values),
        areas=areas,
        name=f"Folder {folder.name}",
        source=str(folder),
        boundaries=boundaries,
        mergers=successors,
        extra_indicators=tuple({i.code: i for i in extras}.values()),
    )
    return ds, tuple(reports)


def codes_as_in_areas(values: pd.DataFrame, areas: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """``values`` with ONS area codes (``E38…``) replaced by the areas table's own codes.

    Published CCG files use either ODS codes (``02N``) or ONS codes (``E38000001``); a lookup
    that holds both (``code`` and ``ons_code``) lets either kind of file join the same areas.
    Codes already in ``areas["code"]`` are never changed. Returns the values and how many rows
    were re-coded.
    """
    mapping = geo.ons_to_ods(areas)
    known = set(areas["code"].astype(str))
    mapping = {o: c for o, c in mapping.items() if o not in known}
    if not mapping or values.empty:
        return values, 0
    codes = values["area_code"].astype(str)
    hit = codes.isin(mapping.keys())
    if not hit.any():
        return values, 0
    recoded = codes.where(~hit, codes.map(mapping)).astype("category")
    return values.assign(area_code=recoded), int(hit.sum())


def on_current_structure(ds: Dataset) -> Dataset:
    """``ds`` with every area re-coded to its successor as of the latest period (summing counts).

    Areas without a merger are unchanged; merged rows carry a note naming their predecessors.
    """
    if ds.mergers is None or ds.mergers.empty or ds.values.empty:
        return ds
    codes = set(ds.values["area_code"].astype(str))
    relevant = ds.mergers.loc[ds.mergers["from"].astype(str).isin(codes)]
    if relevant.empty:
        return ds
    as_of = pd.Timestamp(ds.values["period_end"].max()).date()
    mapping = mergers.resolve_successors(ds.mergers, sorted(codes), as_of)
    moved = {a for a, b in mapping.items() if a != b}
    # Only the merged areas and their successors need recombining; the rest pass through.
    touched = ds.values["area_code"].astype(str).isin(moved | {mapping[a] for a in moved})
    indicators = {i.code: i for i in ds.indicators()}
    rolled, _notes = mergers.roll_forward(ds.values.loc[touched], ds.mergers, as_of, indicators)
    values = model.concat_values([ds.values.loc[~touched], rolled])
    return replace(ds, values=model.sort_values(values))


def merged_into(ds: Dataset, area: str) -> tuple[str, str] | None:
    """(successor, date) when ``area`` merged into another area, else None."""
    if ds.mergers is None or ds.mergers.empty:
        return None
    rows = ds.mergers.loc[ds.mergers["from"].astype(str) == area]
    if rows.empty:
        return None
    mapping = mergers.resolve_successors(ds.mergers, [area], pd.Timestamp.max.date())
    row = rows.iloc[0]
    return mapping.get(area, str(row["to"])), str(pd.Timestamp(row["legal_start"]).date())
