"""Boundaries: the four real CCG files load, rings follow d3-geo winding, and maps render."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest

from iaf import geo, loaders
from iaf.errors import InputError

REAL = {
    "ccg16_apr2016_simplified_209.geojson": (209, "CCG16CD", 0),
    "ccg19_apr2019_ugc_191_gpworkforce_2018.geojson": (191, "ccg19cd", 0),
    "ccg20_apr2020_buc_135.geojson": (135, "ccg20cd", None),  # counter-clockwise as published
    "ccg21_apr2021_buc_106.geojson": (106, "CCG21CD", 0),
}


def _rings(geojson: dict) -> list[tuple[int, np.ndarray]]:
    out = []
    for f in geojson["features"]:
        g = f["geometry"]
        polys = [g["coordinates"]] if g["type"] == "Polygon" else g["coordinates"]
        for poly in polys:
            out.extend((k, np.asarray(ring, dtype=float)) for k, ring in enumerate(poly))
    return out


@pytest.mark.parametrize("filename", list(REAL))
def test_real_boundaries_load_clockwise(real_dir: Path, filename: str) -> None:
    n, prop, fixed = REAL[filename]
    b = geo.load_boundaries(real_dir / "boundaries" / filename, name=filename)
    assert (b.n_features, b.code_property, len(b.features)) == (n, prop, n)
    if fixed is not None:
        assert b.fixed_winding == fixed
    else:
        assert b.fixed_winding > 0
    for k, ring in _rings(b.geojson):
        area = geo.signed_area(ring)
        assert (area < 0) if k == 0 else (area > 0)  # exterior clockwise, holes anticlockwise
    assert all(set(f["properties"]) == {"code", "name"} for f in b.features)
    assert b.metadata["code_property"] == prop


def test_ccg20_rings_as_published_are_counter_clockwise(real_dir: Path) -> None:
    doc = json.loads((real_dir / "boundaries" / "ccg20_apr2020_buc_135.geojson").read_text())
    assert not geo.exterior_clockwise(doc)  # the reason load_boundaries rewinds them


def test_code_property_found_from_known_ods_codes_via_lookup(real_dir: Path) -> None:
    areas = loaders.load_areas(real_dir / "lookups" / "ccg21_codes_names.csv", name="ccg21")
    b = geo.load_boundaries(
        real_dir / "boundaries" / "ccg21_apr2021_buc_106.geojson",
        name="ccg21",
        known_codes=areas["code"],
        code_lookup=geo.ons_to_ods(areas),
    )
    assert b.code_property == "CCG21CD"
    assert len(b.matched) == 106 and b.unmatched == () and b.missing == ()
    assert b.features[0]["properties"] == {"code": "02P", "name": "NHS Barnsley CCG"}


def test_known_codes_pick_the_matching_property(real_dir: Path) -> None:
    areas = loaders.load_areas(real_dir / "lookups" / "ccg16_codes_names_similar10.csv", name="a")
    b = geo.load_boundaries(real_dir / "boundaries" / "ccg16_apr2016_simplified_209.geojson",
                            name="b", known_codes=list(areas["ons_code"])[:200])  # fmt: skip
    assert b.code_property == "CCG16CD"
    assert (len(b.matched), len(b.unmatched)) == (200, 9)


def test_hole_is_wound_opposite_to_its_exterior() -> None:
    outer = [[0, 50], [4, 50], [4, 54], [0, 54], [0, 50]]  # anticlockwise: wrong for d3
    hole = [[1, 51], [1, 52], [2, 52], [2, 51], [1, 51]]  # clockwise: wrong for a hole
    doc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"code": "X1"},
         "geometry": {"type": "Polygon", "coordinates": [outer, hole]}}]}  # fmt: skip
    b = geo.load_boundaries(doc, name="holes")
    assert b.fixed_winding == 2 and geo.exterior_clockwise(b.geojson)


def test_duplicate_codes_are_refused() -> None:
    sq = [[0, 50], [0, 51], [1, 51], [0, 50]]
    f = {"type": "Feature", "properties": {"code": "X1"},
         "geometry": {"type": "Polygon", "coordinates": [sq]}}  # fmt: skip
    with pytest.raises(InputError) as info:
        geo.load_boundaries({"type": "FeatureCollection", "features": [f, f]}, name="d.json")
    assert str(info.value) == (
        "d.json: features[1] (X1): code X1 already used by features[0]; one polygon per area"
    )


def _png_dominant_share(png: bytes) -> float:
    from PIL import Image

    img = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).reshape(-1, 3)
    _, counts = np.unique(img, axis=0, return_counts=True)
    return counts.max() / counts.sum()


def _render(features: list[dict]) -> bytes:
    import altair as alt
    import vl_convert

    chart = (
        alt.Chart(alt.Data(values=features))
        .mark_geoshape(fill="#005EB8", stroke="white", strokeWidth=0.2)
        .project("mercator")
        .properties(width=300, height=300)
    )
    return vl_convert.vegalite_to_png(chart.to_dict(), scale=1)


@pytest.mark.slow
def test_ccg20_renders_as_a_map_not_a_filled_canvas(real_dir: Path) -> None:
    path = real_dir / "boundaries" / "ccg20_apr2020_buc_135.geojson"
    b = geo.load_boundaries(path, name=path.name)
    fixed = _png_dominant_share(_render(b.features))
    # England drawn on a square canvas leaves much background and much fill: neither dominates.
    assert fixed < 0.8
    raw = json.loads(path.read_text())["features"]
    assert _png_dominant_share(_render(raw)) > 0.9  # as published: inverted, fills the canvas
