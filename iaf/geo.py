"""Area boundaries (GeoJSON) checked and made ready for Vega-Lite / d3-geo maps.

d3-geo (and so Vega and Altair's ``mark_geoshape``) works on the sphere and reads a ring's
winding to decide which side is inside: an exterior ring must run **clockwise** (holes
anticlockwise). RFC 7946 GeoJSON asks for the opposite (right-hand rule), and some published
files follow it — drawn as they are, each polygon becomes "the whole globe except this area"
and fills the canvas. :func:`load_boundaries` therefore measures every ring's signed area in
lon/lat and reverses the rings that run the wrong way.

References
----------
- d3-geo, "Spherical polygons": "exterior rings are clockwise, interior (holes) anticlockwise"
  (https://d3js.org/d3-geo#spherical-shapes); Vega-Lite ``geoshape`` uses d3-geo.
- Butler H. et al. RFC 7946 The GeoJSON Format, 2016, §3.1.6 (right-hand rule).
- Shoelace formula for the signed area of a simple polygon (Meister 1769, Gauss 1795).
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from iaf.errors import InputError

__all__ = [
    "MAX_BOUNDARY_BYTES",
    "Boundaries",
    "exterior_clockwise",
    "load_boundaries",
    "ons_to_ods",
    "signed_area",
]

MAX_BOUNDARY_BYTES = 50 * 1024 * 1024
_CODE_NAME = re.compile(r"(cd|code)$", re.IGNORECASE)
_NAME_NAME = re.compile(r"(nm|name)$", re.IGNORECASE)
_FLOAT_MAX = float(np.finfo(np.float64).max)  # a Python float compares exactly with any int


@dataclass(frozen=True)
class Boundaries:
    """A checked FeatureCollection whose features carry ``properties = {"code", "name"}``."""

    geojson: dict[str, Any]
    code_property: str
    n_features: int
    fixed_winding: int
    matched: tuple[str, ...] = ()
    unmatched: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def features(self) -> list[dict[str, Any]]:
        return self.geojson["features"]

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(f["properties"]["code"] for f in self.features)


def signed_area(ring: np.ndarray) -> float:
    """Shoelace signed area in (lon, lat) degrees²: positive when the ring runs anticlockwise."""
    x, y = ring[:, 0], ring[:, 1]
    return 0.5 * float(np.dot(x[:-1], y[1:]) - np.dot(x[1:], y[:-1]))


def ons_to_ods(areas: Any) -> dict[str, str]:
    """ONS (``E38…``) → ODS code from an areas table holding ``code`` and ``ons_code``."""
    if "ons_code" not in areas:
        return {}
    pairs = areas[["ons_code", "code"]].astype(str)
    return {o: c for o, c in zip(pairs["ons_code"], pairs["code"], strict=True) if o}


def _polygons(geometry: dict[str, Any]) -> list[list[Any]]:
    return [geometry["coordinates"]] if geometry["type"] == "Polygon" else geometry["coordinates"]


def exterior_clockwise(geojson: Mapping[str, Any]) -> bool:
    """Whether every exterior ring runs clockwise and every hole anticlockwise (d3-geo order)."""
    for feature in geojson["features"]:
        for poly in _polygons(feature["geometry"]):
            for k, ring in enumerate(poly):
                area = signed_area(np.asarray(ring, dtype="float64")[:, :2])
                if (k == 0 and area > 0) or (k > 0 and area < 0):
                    return False
    return True


def _read_json(source: Any, name: str, max_bytes: int) -> Any:
    if isinstance(source, Mapping):
        return source
    if isinstance(source, bytes | bytearray | memoryview):
        data = bytes(source)
        size = len(data)
    else:
        path = Path(os.fspath(source))
        try:
            size = path.stat().st_size
        except OSError:
            raise InputError(f"{name}: file not found ({path})") from None
        data = b""
    if size > max_bytes:
        from iaf.loaders import over_limit

        raise InputError(f"{name} is {over_limit(size, max_bytes)} for a boundary file")
    if not isinstance(source, bytes | bytearray | memoryview):
        data = path.read_bytes()
    if not data.strip():
        raise InputError(f"{name} is empty")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"{name}: not UTF-8 text (byte {exc.start}), so not GeoJSON") from None
    try:
        return json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"{name}: not JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from None
    except RecursionError:
        raise InputError(f"{name}: JSON nested too deeply to be GeoJSON") from None
    except ValueError as exc:
        raise InputError(f"{name}: {exc}") from None


def _no_constant(token: str) -> Any:
    raise ValueError(f"JSON holds {token}, which is not a number GeoJSON allows")


def _check_ring(ring: Any, where: str) -> np.ndarray:
    if not isinstance(ring, list) or len(ring) < 4:
        n = len(ring) if isinstance(ring, list) else 0
        raise InputError(f"{where} has {n} points; a ring needs at least 4 (closed)")
    for p, pos in enumerate(ring):
        if (
            not isinstance(pos, list)
            or len(pos) < 2
            or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in pos)
        ):
            raise InputError(f"{where}, point {p}: {str(pos)[:40]} is not a [lon, lat] position")
    # JSON integers are unbounded; one beyond float range is as bad as a projected coordinate.
    arr = np.asarray(
        [[v if abs(v) <= _FLOAT_MAX else math.inf for v in pos[:2]] for pos in ring],
        dtype="float64",
    )
    bad = ~np.isfinite(arr).all(axis=1) | (np.abs(arr[:, 0]) > 180) | (np.abs(arr[:, 1]) > 90)
    if bad.any():
        p = int(np.flatnonzero(bad)[0])
        raise InputError(
            f"{where}, point {p}: {ring[p][:2]} is not a longitude/latitude (lon must be within "
            "±180 and lat within ±90: projected coordinates such as British National Grid?)"
        )
    if not np.array_equal(arr[0], arr[-1]):
        raise InputError(f"{where} is not closed (its first and last points differ)")
    return arr


def _feature_code(props: Mapping[str, Any], code_property: str | None) -> str:
    if code_property and code_property in props and props[code_property] is not None:
        return f" ({str(props[code_property])[:20]})"
    return ""


def _choose_code_property(
    features: list[dict[str, Any]],
    known: set[str] | None,
    lookup: Mapping[str, str] | None,
    name: str,
) -> str:
    keys: list[str] = []
    for f in features:
        for k in f.get("properties") or {}:
            if k not in keys:
                keys.append(k)
    if known:
        best, best_share = None, 0.0
        for k in keys:
            vals = [str((f.get("properties") or {}).get(k, "")).strip() for f in features]
            hits = sum(v in known or (lookup or {}).get(v) in known for v in vals)
            share = hits / len(vals)
            if share > best_share:
                best, best_share = k, share
        if best is not None:
            return best
    for k in keys:
        if _CODE_NAME.search(k):
            return k
    raise InputError(
        f"{name}: no property looks like an area code (a name ending in CD or code, or values "
        f"matching the known areas); its properties are: {', '.join(keys[:20]) or 'none'}"
    )


def load_boundaries(
    source: Any,
    *,
    name: str,
    code_property: str | None = None,
    known_codes: Iterable[str] | None = None,
    code_lookup: Mapping[str, str] | None = None,
    max_bytes: int = MAX_BOUNDARY_BYTES,
) -> Boundaries:
    """Load, check and normalise a GeoJSON FeatureCollection of area polygons.

    ``code_property`` names the property holding area codes; by default it is the property
    whose values best match ``known_codes`` (ODS or ONS codes, translated through
    ``code_lookup`` e.g. ONS → ODS from :func:`ons_to_ods`), else the first property named like
    ``*CD``/``code``. Each feature's properties become ``{"code", "name"}`` (codes translated
    through ``code_lookup`` when given; names kept as plain text, markup included — escaping is
    the UI's job). Rings are re-wound so exterior rings run clockwise and holes anticlockwise
    (what d3-geo/Vega expect); ``fixed_winding`` counts the rings reversed.

    Raises :class:`InputError` naming the feature (``features[i]``) and the problem for: not
    JSON, not a FeatureCollection, a non-polygon or empty geometry, a position that is not a
    longitude/latitude, an unclosed ring, or a file over ``max_bytes``.
    """
    doc = _read_json(source, name, max_bytes)
    if not isinstance(doc, Mapping) or doc.get("type") != "FeatureCollection":
        what = doc.get("type") if isinstance(doc, Mapping) else type(doc).__name__
        raise InputError(f"{name}: not a GeoJSON FeatureCollection (its type is {what!r})")
    features = doc.get("features")
    if not isinstance(features, list) or not features:
        raise InputError(f"{name}: the FeatureCollection has no features")
    for i, f in enumerate(features):
        if not isinstance(f, Mapping) or f.get("type") != "Feature":
            raise InputError(f"{name}: features[{i}] is not a GeoJSON Feature")
        if f.get("properties") is not None and not isinstance(f["properties"], Mapping):
            raise InputError(f"{name}: features[{i}] has properties that are not an object")
    known = {str(c) for c in known_codes} if known_codes is not None else None
    if code_property is None:
        code_property = _choose_code_property(features, known, code_lookup, name)
    name_property = next(
        (k for k in (features[0].get("properties") or {}) if _NAME_NAME.search(k)), None
    )

    out_features = []
    fixed = 0
    seen: dict[str, int] = {}
    for i, f in enumerate(features):
        props = f.get("properties") or {}
        label = f"{name}: features[{i}]{_feature_code(props, code_property)}"
        geom = f.get("geometry")
        if not isinstance(geom, Mapping) or geom.get("type") is None:
            raise InputError(f"{label} has no geometry")
        if not isinstance(geom["type"], str) or geom["type"] not in {"Polygon", "MultiPolygon"}:
            raise InputError(
                f"{label} is a {str(geom['type'])[:30]}, not a Polygon or MultiPolygon"
            )
        coords = geom.get("coordinates")
        if not isinstance(coords, list) or not coords:
            raise InputError(f"{label} has empty coordinates")
        polys = [coords] if geom["type"] == "Polygon" else coords
        new_polys = []
        for j, poly in enumerate(polys):
            if not isinstance(poly, list) or not poly:
                raise InputError(f"{label}, polygon {j} has no rings")
            new_rings = []
            for k, ring in enumerate(poly):
                where = f"{label}, polygon {j} ring {k}"
                arr = _check_ring(ring, where)
                area = signed_area(arr)
                if area == 0:
                    raise InputError(f"{where} encloses no area (all points on a line)")
                # Exterior clockwise (negative shoelace area with lat up), holes the other way.
                wrong = area > 0 if k == 0 else area < 0
                if wrong:
                    fixed += 1
                    ring = ring[::-1]
                new_rings.append([list(p) for p in ring])
            new_polys.append(new_rings)
        raw_code = props.get(code_property)
        if raw_code is None or not str(raw_code).strip():
            raise InputError(f"{label} has no value for the code property {code_property!r}")
        code = str(raw_code).strip()
        code = (code_lookup or {}).get(code, code)
        if code in seen:
            raise InputError(
                f"{label}: code {code} already used by features[{seen[code]}]; one polygon per area"
            )
        seen[code] = i
        nm = props.get(name_property) if name_property else None
        out_features.append(
            {
                "type": "Feature",
                "properties": {"code": code, "name": str(nm) if nm is not None else code},
                "geometry": {
                    "type": geom["type"],
                    "coordinates": new_polys[0] if geom["type"] == "Polygon" else new_polys,
                },
            }
        )
    codes = [f["properties"]["code"] for f in out_features]
    matched = tuple(c for c in codes if known is None or c in known)
    unmatched = tuple(c for c in codes if known is not None and c not in known)
    missing = tuple(sorted(known - set(codes))) if known is not None else ()
    metadata = {"source": name, "code_property": code_property, "name_property": name_property}
    geojson = {"type": "FeatureCollection", "features": out_features, "metadata": metadata}
    return Boundaries(
        geojson=geojson,
        code_property=code_property,
        n_features=len(out_features),
        fixed_winding=fixed,
        matched=matched,
        unmatched=unmatched,
        missing=missing,
        metadata=metadata,
    )


def _bbox(geojson: Mapping[str, Any]) -> tuple[float, float, float, float]:
    """(min lon, min lat, max lon, max lat) over every ring; for tests and map framing."""
    lo = [math.inf, math.inf]
    hi = [-math.inf, -math.inf]
    for f in geojson["features"]:
        for poly in _polygons(f["geometry"]):
            arr = np.asarray(poly[0], dtype="float64")
            lo = np.minimum(lo, arr[:, :2].min(axis=0)).tolist()
            hi = np.maximum(hi, arr[:, :2].max(axis=0)).tolist()
    return lo[0], lo[1], hi[0], hi[1]
