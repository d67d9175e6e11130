"""Chart builders: valid Vega-Lite, named selections, colours from the constants, words in titles.

Frames here are small hand-made stand-ins for the analysis results (columns as iaf.analysis and
iaf.stats produce them), so these tests do not depend on the loaders or the analysis pipeline.
Rendering checks go through vl-convert's scenegraph, which is what a saved PNG/SVG shows.
"""

from __future__ import annotations

import json
import re

import altair as alt
import numpy as np
import pandas as pd
import pytest
import vl_convert as vlc

from iaf import charts, exports
from iaf.catalogue import CATALOGUE
from iaf.errors import InputError

IND = {i.code: i for i in CATALOGUE}
HIGHER = IND["127c"]  # A&E 4 hours, higher is better
LOWER = IND["101a"]  # maternal smoking, lower is better

ALL_COLOURS = {
    s.colour
    for table in (charts.SIGNIFICANCE, charts.SPC, charts.FUNNEL, charts.RATINGS)
    for s in table.values()
}


# ── Fake results frames ─────────────────────────────────────────────────────────────────────
def funnel_frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    den = np.array([1000.0, 5000, 12000, 20000, 40000, 60000])
    value = np.array([60.0, 74.5, 70.0, 74.0, 77.0, 73.9])
    points = pd.DataFrame(
        {
            "area_code": ["00A", "00B", "00C", "00D", "00E", "00F"],
            "area_name": ["Alpha", "Bravo", "Charlie", "Delta", "Echo", "Foxtrot"],
            "denominator": den,
            "value": value,
            "outlier": ["low", "", "low", "", "high", ""],
            "concern": ["concern", "", "concern", "", "better than expected", ""],
            "z": [-5.0, 0.3, -4.0, 0.0, 4.0, -0.1],
        }
    )
    grid = np.geomspace(den.min(), den.max(), 50)
    half = 100 * np.sqrt(0.74 * 0.26 / grid)
    limits = pd.DataFrame(
        {
            "denominator": grid,
            "lower_95": 74 - 2 * half,
            "upper_95": 74 + 2 * half,
            "lower_998": 74 - 3 * half,
            "upper_998": 74 + 3 * half,
        }
    )
    return points, limits


def ranked_rows() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "area_code": ["00A", "00B", "00C", "00D"],
            "area_name": ["Alpha", "Bravo", "Charlie", "Delta"],
            "value": [80.0, 74.0, 60.0, 76.0],
            "lower_95": [78.0, 72.0, 58.0, 73.0],
            "upper_95": [82.0, 76.0, 62.0, 79.0],
            "sig": ["better", "similar", "worse", "not compared"],
        }
    )


def spc_points(n: int = 15) -> pd.DataFrame:
    ends = pd.date_range("2015-06-30", periods=n, freq="QE")
    types = ["common_cause"] * (n - 3) + ["special_cause_improvement"] * 2
    types.append("special_cause_concern")
    return pd.DataFrame(
        {
            "period": [f"{d.year} Q{d.quarter}" for d in ends],
            "period_end": ends,
            "value": np.linspace(70, 76, n),
            "mean": 72.0,
            "lpl": 68.0,
            "upl": 76.0,
            "point_type": types,
        }
    )


def spine_rows() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "indicator": ["127c", "101a"],
            "label": [
                f"127c A&E 4 hours ({HIGHER.polarity_words})",
                f"101a Maternal smoking ({LOWER.polarity_words})",
            ],
            "value": [70.0, 8.0],
            "england": [75.0, 10.0],
            "min": [60.0, 2.0],
            "q25": [72.0, 8.0],
            "q75": [78.0, 12.0],
            "max": [85.0, 30.0],
            "sig": ["worse", "better"],
        }
    )


def rug_cells(n_areas: int, codes: list[str] | None = None) -> pd.DataFrame:
    codes = codes or [i.code for i in CATALOGUE]
    sigs = list(charts.SIGNIFICANCE)
    rows = [
        {
            "area_code": f"A{a:03d}",
            "area_name": f"Area {a}",
            "indicator": code,
            "indicator_label": IND[code].label,
            "domain": IND[code].domain,
            "group": IND[code].clinical_priority or IND[code].domain,
            "sig": sigs[(a * 7 + k) % len(sigs)],
            "value": float(a + k),
        }
        for a in range(n_areas)
        for k, code in enumerate(codes)
    ]
    return pd.DataFrame(rows)


def hex_features(n: int = 6) -> list[dict]:
    feats = []
    for k in range(n):
        cx, cy = 2.0 * k, 0.0
        ring = [[cx + np.cos(a), cy + np.sin(a)] for a in np.linspace(0, 2 * np.pi, 7)]
        feats.append(
            {
                "type": "Feature",
                "properties": {"code": f"0{k}X", "name": f"Hex {k}"},
                "geometry": {"type": "Polygon", "coordinates": [ring[::-1]]},
            }
        )
    return feats


def small_points() -> pd.DataFrame:
    frames = [
        spc_points(8).assign(indicator=code, label=IND[code].label)
        for code in ("101a", "127c", "122a", "126a", "141a")
    ]
    return pd.concat(frames, ignore_index=True)


def trend_rows() -> pd.DataFrame:
    ends = pd.to_datetime(["2014-03-31", "2015-03-31", "2016-03-31", "2017-03-31"])
    v = np.array([70.0, 71.0, 73.0, 74.0])
    return pd.DataFrame(
        {
            "period": ["2013/14", "2014/15", "2015/16", "2016/17"],
            "period_end": ends,
            "value": v,
            "lower_95": v - 0.5,
            "upper_95": v + 0.5,
        }
    )


def ratings_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "topic": ["Cancer", "Dementia", "Better Health"],
            "kind": ["Clinical priority", "Clinical priority", "Domain"],
            "rating": ["Good", "Inadequate", "Outstanding"],
        }
    )


FINDING = "Two areas are significantly worse than England."


def build(name: str, indicator=HIGHER) -> alt.TopLevelMixin:
    if name == "funnel":
        points, limits = funnel_frames()
        return charts.funnel_chart(
            points,
            limits,
            indicator=indicator,
            target=74.0,
            finding=FINDING,
            period="2016/17 Q3",
            comparator_note="England 74.0%",
            adjusted_note="Limits not adjusted for overdispersion.",
            selected="00C",
        )
    if name == "ranked":
        return charts.ranked_bar_chart(
            ranked_rows(),
            indicator=indicator,
            comparator_value=74.0,
            comparator_name="England",
            finding=FINDING,
            period="2016/17 Q3",
        )
    if name == "spc":
        return charts.spc_chart(
            spc_points(), indicator=indicator, finding=FINDING, target=75.0, area_name="Alpha"
        )
    if name == "spine":
        return charts.spine_chart(spine_rows(), area_name="Alpha", finding=FINDING)
    if name == "rug":
        return charts.tartan_rug(rug_cells(4), finding=FINDING, comparator_name="England")
    if name == "map":
        values = pd.DataFrame(
            {"area_code": ["00X", "01X", "02X"], "value": [1.0, 2, 3], "sig": ["better"] * 3}
        )
        return charts.choropleth(
            hex_features(), values, indicator=indicator, finding=FINDING, projection="identity"
        )
    if name == "small":
        return charts.small_multiples(small_points(), area_name="Alpha", finding=FINDING)
    if name == "trend":
        return charts.national_trend(trend_rows(), indicator=indicator, finding=FINDING)
    if name == "ratings":
        return charts.ratings_chart(ratings_frame(), area_name="Alpha", finding=FINDING)
    raise AssertionError(name)


BUILDERS = ["funnel", "ranked", "spc", "spine", "rug", "map", "small", "trend", "ratings"]
WITH_INDICATOR = ["funnel", "ranked", "spc", "map", "trend"]


def walk(node):
    """Every dict inside a spec."""
    if isinstance(node, dict):
        yield node
        for v in node.values():
            yield from walk(v)
    elif isinstance(node, list):
        for v in node:
            yield from walk(v)


def params(spec: dict) -> dict[str, dict]:
    return {
        p["name"]: p
        for d in walk(spec)
        for p in d.get("params", [])
        if isinstance(p, dict) and "select" in p
    }


def colour_scales(spec: dict) -> list[dict]:
    return [
        d["color"]["scale"]
        for d in walk(spec)
        if isinstance(d.get("color"), dict) and isinstance(d["color"].get("scale"), dict)
    ]


def title_text(spec: dict) -> str:
    title = spec.get("title", {})
    return json.dumps(title, ensure_ascii=False)


def scenegraph_items(spec: dict, marktype: str) -> list[dict]:
    graph = vlc.vegalite_to_scenegraph(spec)
    return [
        item
        for d in walk(graph)
        if d.get("marktype") == marktype and d.get("role") == "mark"
        for item in d.get("items", [])
    ]


# ── Every builder ───────────────────────────────────────────────────────────────────────────
@pytest.mark.parametrize("name", BUILDERS)
def test_spec_is_valid_vega_lite_with_description_and_big_fonts(name):
    spec = build(name).to_dict()  # validates against the Vega-Lite schema
    assert spec["description"] == FINDING
    config = spec["config"]
    assert config["axis"]["labelFontSize"] >= 14
    assert config["axis"]["titleFontSize"] >= 14
    assert config["title"]["fontSize"] >= 14
    assert config["title"]["subtitleFontSize"] >= 14
    assert config["legend"]["labelFontSize"] >= 14
    assert spec["title"]["subtitle"], "subtitle explains method, source and n"
    assert "n = " in title_text(spec)
    assert "Source:" in title_text(spec)


@pytest.mark.parametrize("name", [b for b in BUILDERS if b != "trend"])
def test_colours_come_from_the_constants(name):
    scales = [s for s in colour_scales(build(name).to_dict()) if "range" in s]
    assert scales, "every chart colours something by meaning"
    for scale in scales:
        assert set(scale["range"]) <= ALL_COLOURS
        # Each colour has a glyph and words beside it in the legend.
        for label in scale["domain"]:
            glyph, _, words = label.partition(" ")
            assert len(glyph) == 1 and not glyph.isalnum() and words


@pytest.mark.parametrize("name", WITH_INDICATOR)
@pytest.mark.parametrize("indicator", [HIGHER, LOWER], ids=["higher", "lower"])
def test_titles_say_the_polarity_in_words(name, indicator):
    spec = build(name, indicator).to_dict()
    assert indicator.polarity_words in spec["title"]["text"]
    assert indicator.code in spec["title"]["text"]


@pytest.mark.parametrize(
    ("name", "param", "fields"),
    [
        ("funnel", "pick", ["area_code"]),
        ("ranked", "pick", ["area_code"]),
        ("map", "pick", ["area_code"]),
        ("rug", "cell", ["area_code", "indicator"]),
    ],
)
def test_clickable_charts_carry_the_named_point_selection(name, param, fields):
    found = params(build(name).to_dict())
    assert list(found) == [param]
    assert found[param]["select"]["type"] == "point"
    assert found[param]["select"]["fields"] == fields
    assert found[param]["select"]["on"] == "click"


def test_builders_leave_the_callers_frame_unchanged():
    points, limits = funnel_frames()
    before_p, before_l = points.copy(), limits.copy()
    build("funnel")
    charts.funnel_chart(
        points,
        limits,
        indicator=HIGHER,
        target=74,
        finding=FINDING,
        period="p",
        comparator_note="c",
        adjusted_note="a",
    )
    pd.testing.assert_frame_equal(points, before_p)
    pd.testing.assert_frame_equal(limits, before_l)


# ── Builder-specific behaviour ──────────────────────────────────────────────────────────────
def test_funnel_colours_judgements_and_draws_both_limit_bands():
    spec = build("funnel").to_dict()
    scale = next(s for s in colour_scales(spec) if "range" in s)
    expected = [charts.FUNNEL[k] for k in ("better than expected", "in control", "concern")]
    assert scale["domain"] == [s.label for s in expected]
    assert scale["range"] == [s.colour for s in expected]
    dash = next(
        d["strokeDash"]
        for d in walk(spec)
        if "strokeDash" in d and "scale" in d.get("strokeDash", {})
    )
    assert dash["scale"]["domain"] == ["95% limits", "99.8% limits"]
    assert dash["scale"]["range"] == [[6, 4], [1, 0]]


def test_funnel_highlights_the_selected_area_with_a_field_predicate_not_an_expression():
    points, limits = funnel_frames()
    hostile = "x' || true || '"
    points = points.assign(area_code=points["area_code"].where(points.index != 2, hostile))
    chart = charts.funnel_chart(
        points,
        limits,
        indicator=HIGHER,
        target=74.0,
        finding=FINDING,
        period="p",
        comparator_note="c",
        adjusted_note="a",
        selected=hostile,
    )
    spec = chart.to_dict()
    filters = [d["filter"] for d in walk(spec) if "filter" in d]
    assert {"field": "area_code", "equal": hostile} in filters
    labels = [i.get("text") for i in scenegraph_items(exports.chart_spec(chart), "text")]
    assert "Charlie" in labels, "only the selected area is labelled"
    assert "Alpha" not in labels


def test_names_from_files_are_drawn_as_text():
    rows = ranked_rows().assign(area_name=["<script>alert(1)</script>", "B", "C", "D"])
    chart = charts.ranked_bar_chart(
        rows,
        indicator=HIGHER,
        comparator_value=74.0,
        comparator_name="England",
        finding=FINDING,
        period="p",
    )
    svg = exports.chart_svg(chart)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in svg
    assert "<script>" not in svg


def test_ranked_bars_put_the_best_first_for_either_polarity():
    for indicator, expected in [(HIGHER, "Alpha"), (LOWER, "Charlie")]:
        spec = build("ranked", indicator).to_dict()
        sorts = [
            d["y"]["sort"] for d in walk(spec) if isinstance(d.get("y"), dict) and "sort" in d["y"]
        ]
        assert sorts and sorts[0][0] == expected


def test_ranked_bars_draw_cis_as_explicit_x_x2_columns():
    spec = build("ranked").to_dict()
    assert any(
        d.get("x", {}).get("field") == "lower_95" and d.get("x2", {}).get("field") == "upper_95"
        for d in walk(spec)
        if isinstance(d.get("x"), dict) and isinstance(d.get("x2"), dict)
    )


def test_national_trend_band_uses_explicit_y_y2_columns_and_trend_colours():
    spec = build("trend").to_dict()
    marks = [d["mark"] for d in walk(spec) if isinstance(d.get("mark"), dict)]
    assert {m["color"] for m in marks} == set(charts.TREND.values())
    assert any(
        d["y"].get("field") == "lower_95" and d["y2"].get("field") == "upper_95"
        for d in walk(spec)
        if isinstance(d.get("y"), dict) and isinstance(d.get("y2"), dict)
    )


def test_spc_names_the_icons_and_uses_mdc_colours():
    spec = build("spc").to_dict()
    text = title_text(spec)
    assert "special cause concern" in text  # the last point's type, in words, is the icon
    assert "Making Data Count" in text
    scale = next(s for s in colour_scales(spec) if "range" in s)
    assert scale["range"] == ["#7B7D7D", "#289DE0", "#FAB428"]
    target = [
        d
        for d in walk(spec)
        if isinstance(d.get("mark"), dict) and d["mark"].get("color") == charts.SPC_LINES["target"]
    ]
    assert target and target[0]["mark"]["strokeDash"], "target is a red dashed line"


def test_tartan_rug_round_trips_every_cell_through_the_wide_transport():
    cells = rug_cells(3, ["101a", "103a", "122a", "141a"]).iloc[:-1]  # one cell missing
    chart = charts.tartan_rug(cells, finding=FINDING, comparator_name="England")
    rects = scenegraph_items(exports.chart_spec(chart), "rect")
    cell_rects = [r for r in rects if "Code: A" in (r.get("description") or "")]
    assert len(cell_rects) == len(cells)
    seen = {
        (
            r["description"].split("Code: ")[1].split(";")[0],
            r["description"].split("Indicator: ")[1][:4],
        )
        for r in cell_rects
    }
    assert seen == set(zip(cells["area_code"], cells["indicator"], strict=True))
    glyphs = sorted(
        i["text"]
        for i in scenegraph_items(exports.chart_spec(chart), "text")
        if i.get("text") in {s.glyph for s in charts.SIGNIFICANCE.values()}
    )
    expected = sorted(charts.SIGNIFICANCE[s].glyph for s in cells["sig"])
    assert glyphs == expected


def test_tartan_rug_rejects_repeated_cells_and_unknown_labels():
    cells = rug_cells(2, ["101a", "103a"])
    with pytest.raises(InputError, match="one row per area and indicator"):
        charts.tartan_rug(pd.concat([cells, cells.iloc[:1]]), finding=FINDING, comparator_name="E")
    with pytest.raises(InputError, match="unknown significance label"):
        charts.tartan_rug(cells.assign(sig="great"), finding=FINDING, comparator_name="E")


@pytest.mark.slow
def test_tartan_rug_200_areas_by_57_indicators_renders_to_svg():
    # How long this takes is a benchmark figure (./scripts/bench.sh), never a test.
    cells = rug_cells(200)
    assert len(cells) == 11_400
    chart = charts.tartan_rug(cells, finding=FINDING, comparator_name="England")
    spec = exports.chart_spec(chart)  # under the 5,000-row guard without disabling it
    assert exports._inline_rows(spec) < 300
    svg = exports.chart_svg(chart)
    assert svg.startswith("<svg") and "Tartan rug: 200 areas × 57 indicators" in svg
    assert svg.count("Code: A199") == 57


def test_choropleth_looks_up_values_on_properties_code_and_marks_missing_as_not_compared():
    chart = build("map")
    spec = chart.to_dict()
    lookups = [d for d in walk(spec) if d.get("lookup") == "area_code" and "from" in d]
    assert lookups and lookups[0]["from"]["key"] == "area_code"
    assert any(d.get("calculate") == "datum.properties.code" for d in walk(spec))
    assert spec["projection"] == {"type": "identity", "reflectY": True}
    shapes = [
        i for i in scenegraph_items(exports.chart_spec(chart), "shape") if i.get("description")
    ]
    described = " ".join(i["description"] for i in shapes)
    assert described.count("▲ Better") == 3
    assert described.count("○ Not compared") == 3


def test_choropleth_renders_real_ccg_boundaries(real_dir):
    raw = json.loads((real_dir / "boundaries" / "ccg16_apr2016_simplified_209.geojson").read_text())
    feats = [
        {
            "type": "Feature",
            "properties": {"code": f["properties"]["CCG16CD"], "name": f["properties"]["CCG16NM"]},
            "geometry": f["geometry"],
        }
        for f in raw["features"]
    ]
    values = pd.DataFrame(
        {"area_code": [f["properties"]["code"] for f in feats[:100]], "value": 1.0, "sig": "worse"}
    )
    chart = charts.choropleth(feats, values, indicator=HIGHER, finding=FINDING)
    png = exports.chart_png(chart, scale=1)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


def test_choropleth_refuses_features_without_code_or_name():
    bad = hex_features(2)
    bad[1]["properties"] = {"CCG16CD": "E1"}
    values = pd.DataFrame({"area_code": ["00X"], "value": [1.0], "sig": ["similar"]})
    with pytest.raises(InputError, match=r"properties.code/properties.name \(features 1\)"):
        charts.choropleth(bad, values, indicator=HIGHER, finding=FINDING)


def test_small_multiples_wrap_with_independent_y():
    spec = build("small").to_dict()
    assert spec["columns"] == 5
    assert spec["resolve"]["scale"]["y"] == "independent"
    with pytest.raises(InputError, match="columns must be between 4 and 6"):
        charts.small_multiples(small_points(), area_name="A", finding=FINDING, columns=9)


def test_ratings_write_the_words_and_derive_a_description():
    chart = charts.ratings_chart(ratings_frame(), area_name="Alpha")
    spec = chart.to_dict()
    assert spec["description"] == (
        "Alpha IAF ratings: Cancer Good; Dementia Inadequate; Better Health Outstanding"
    )
    texts = {i.get("text") for i in scenegraph_items(exports.chart_spec(chart), "text")}
    assert {"● Good", "▼ Inadequate", "★ Outstanding"} <= texts
    with pytest.raises(InputError, match="unknown rating label"):
        charts.ratings_chart(ratings_frame().assign(rating="Fine"), area_name="A")


# ── Spine positions (Fingertips scaling) ────────────────────────────────────────────────────
def test_spine_positions_centre_england_and_put_worse_on_the_left():
    pos = charts.spine_positions(spine_rows())
    # 127c (higher is better): reach = max(|60-75|, |85-75|) = 15.
    hi = pos.iloc[0]
    assert hi["pos_left"] == pytest.approx(0.0)
    assert hi["pos_right"] == pytest.approx(0.5 + 10 / 30)
    assert hi["pos_value"] == pytest.approx(0.5 - 5 / 30)
    assert (hi["pos_q_left"], hi["pos_q_right"]) == pytest.approx((0.5 - 3 / 30, 0.5 + 3 / 30))
    # 101a (lower is better): reach = 20; the maximum (worst) is drawn at the left edge.
    lo = pos.iloc[1]
    assert lo["pos_left"] == pytest.approx(0.0)
    assert lo["pos_right"] == pytest.approx(0.5 + 8 / 40)
    assert lo["pos_value"] == pytest.approx(0.5 + 2 / 40), "lower value, better, so right"


def test_spine_positions_follow_an_explicit_polarity_and_survive_zero_spread():
    rows = spine_rows().iloc[:1].assign(polarity="lower_is_better")
    assert charts.spine_positions(rows)["pos_value"].iloc[0] == pytest.approx(0.5 + 5 / 30)
    flat = spine_rows().iloc[:1].assign(value=75.0, min=75.0, q25=75.0, q75=75.0, max=75.0)
    assert charts.spine_positions(flat)[["pos_left", "pos_value", "pos_right"]].iloc[
        0
    ].tolist() == [
        0.5,
        0.5,
        0.5,
    ]


# ── Significance labels and validation ──────────────────────────────────────────────────────
@pytest.mark.parametrize(
    ("sig_95", "sig_998", "expected"),
    [
        ("better", "better", "better"),
        ("better", "similar", "better (95% only)"),
        ("worse", "similar", "worse (95% only)"),
        ("higher", "similar", "higher (95% only)"),
        ("similar", "similar", "similar"),
        ("not compared", "not compared", "not compared"),
        (None, None, "not compared"),
    ],
)
def test_significance_label_tints_95_only(sig_95, sig_998, expected):
    assert charts.significance_label([sig_95], [sig_998]).tolist() == [expected]
    assert expected in charts.SIGNIFICANCE


def test_95_only_is_a_lighter_tint_with_the_same_glyph():
    sig = charts.SIGNIFICANCE
    for key in ("better", "worse", "higher", "lower"):
        strong, weak = sig[key], sig[f"{key} (95% only)"]
        assert strong.glyph == weak.glyph
        assert _luminance(weak.colour) > _luminance(strong.colour)


def _luminance(hex_colour: str) -> float:
    r, g, b = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def test_missing_columns_and_empty_findings_are_input_errors():
    points, limits = funnel_frames()
    with pytest.raises(InputError, match="funnel points lack the column"):
        charts.funnel_chart(
            points.drop(columns="z"),
            limits,
            indicator=HIGHER,
            target=74,
            finding=FINDING,
            period="p",
            comparator_note="c",
            adjusted_note="a",
        )
    with pytest.raises(InputError, match="finding must be a non-empty sentence"):
        charts.spc_chart(spc_points(), indicator=HIGHER, finding=" ", area_name="A")
    with pytest.raises(InputError, match="unknown SPC point type"):
        charts.spc_chart(
            spc_points().assign(point_type="odd"), indicator=HIGHER, finding=FINDING, area_name="A"
        )


def test_duplicate_area_names_are_told_apart_by_code():
    rows = ranked_rows().assign(area_name=["Same", "Same", "Other", "Fourth"])
    spec = charts.ranked_bar_chart(
        rows,
        indicator=HIGHER,
        comparator_value=74.0,
        comparator_name="England",
        finding=FINDING,
        period="p",
    ).to_dict()
    sort = next(
        d["y"]["sort"] for d in walk(spec) if isinstance(d.get("y"), dict) and "sort" in d["y"]
    )
    assert "Same (00A)" in sort and "Same (00B)" in sort and "Other" in sort


def test_iaf_charts_does_not_import_streamlit():
    import subprocess
    import sys

    code = "import sys, iaf.charts, iaf.exports; print('streamlit' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# ── The live funnel: one spec for every indicator, so the browser swaps data in place ──────
def live_funnel(
    indicator, period: str, shift: float = 0.0, rows: int | None = None, **options
) -> dict:
    """The funnel chart of the test frames (its first ``rows`` points), live unless
    ``live=False`` is among ``options``."""
    points, limits = funnel_frames()
    return charts.funnel_chart(
        points.iloc[:rows].assign(value=lambda f: f["value"] + shift),
        limits,
        indicator=indicator,
        target=74.0 + shift,
        finding=FINDING,
        period=period,
        comparator_note="England 74.0%",
        adjusted_note="Limits not adjusted for overdispersion.",
        **({"live": True} | options),
    )


def as_json(spec: dict) -> dict:
    """The live spec as Streamlit sends it to Vega-Lite: its frames as rows."""
    rows = {
        name: json.loads(data.to_json(orient="records")) if isinstance(data, pd.DataFrame) else data
        for name, data in spec["datasets"].items()
    }
    return {**spec, "datasets": rows}


def test_live_funnel_spec_is_the_same_for_other_indicators_periods_and_areas():
    """Streamlit re-creates the Vega view only when the spec (datasets aside) changes."""
    a = live_funnel(HIGHER, "2016/17 Q3")
    b = live_funnel(LOWER, "2019/20", shift=-50, rows=4)
    data_a, data_b = a.pop("datasets"), b.pop("datasets")
    assert json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
    assert set(data_a) == set(data_b) == {"funnel_meta", "funnel_points", "funnel_limits"}
    assert data_a["funnel_meta"] != data_b["funnel_meta"]
    assert len(data_a["funnel_points"]) == 6 and len(data_b["funnel_points"]) == 4


def test_live_funnel_of_many_points_is_drawn_on_a_canvas_whatever_their_number():
    """Streamlit picks the canvas itself above 2,000 points, which changed the spec between
    indicators with fewer and more practices; ``many`` fixes it for the whole dataset."""
    big = live_funnel(HIGHER, "2016/17 Q3", many=True)
    small = live_funnel(HIGHER, "2016/17 Q3", rows=3, many=True)
    few = live_funnel(HIGHER, "2016/17 Q3")
    for spec in (big, small, few):
        spec.pop("datasets")
    assert big == small
    assert big["usermeta"]["embedOptions"]["renderer"] == "canvas"
    assert big["config"]["mark"]["aria"] is False
    assert "usermeta" not in few and "aria" not in few["config"].get("mark", {})


def _points_layer(spec: dict) -> dict:
    return next(lay for lay in spec["layer"] if lay.get("name") == "funnel_points")


@pytest.mark.parametrize("many", [False, True], ids=["svg", "canvas"])
def test_live_funnel_keeps_its_tooltip_in_one_expression(many):
    """Live, the tooltip is one object of plain field reads (the lines the points' ARIA labels
    repeat, below), read from columns with no gaps."""
    live = live_funnel(HIGHER, "2016/17 Q3", many=many)
    assert "tooltip" not in _points_layer(live)["encoding"]
    pairs = re.findall(
        r'"([^"]+)": datum\["([^"]+)"\]', _points_layer(live)["mark"]["tooltip"]["expr"]
    )
    assert [title for title, _ in pairs] == [
        "Area", "Code", "Value", "Denominator", "z-score (unadjusted)", "Funnel plot"
    ]  # fmt: skip
    rows = live["datasets"]["funnel_points"]
    assert {field for _, field in pairs} <= set(rows.columns)
    assert rows[[field for _, field in pairs]].notna().all().all()


def test_live_funnel_points_are_described_for_screen_readers_in_the_tooltips_words():
    """On the SVG each point's ARIA label is its tooltip, line by line ("Area: …; Code: …;
    Value: …"), rendered by Vega from the ``aria_text`` column, and each limit line says which
    it is (Vega-Lite's own label read "denominator: 8196; lower_95: 76.2"); the canvas has no
    ARIA."""
    live = live_funnel(HIGHER, "2016/17 Q3")
    rows = live["datasets"]["funnel_points"]
    spec = {
        **live,
        "datasets": {
            k: v.to_dict("records") if isinstance(v, pd.DataFrame) else v
            for k, v in live["datasets"].items()
        },
    }
    described = sorted(i["description"] for i in scenegraph_items(spec, "symbol") if "x" in i)
    assert len(described) == len(rows) == 6
    expected = sorted(
        f"Area: {r.area_name}; Code: {r.area_code}; Value: {r.value_text}; "
        f"Denominator: {r.denominator_text}; z-score (unadjusted): {r.z_text}; "
        f"Funnel plot: {r.judgement_label}"
        for r in rows.itertuples()
    )
    assert described == expected
    assert "Code: 00A; Value: 60.0 %" in " ".join(described)  # the tooltip's text, not raw
    lines = {i.get("description") for i in scenegraph_items(spec, "line")}
    assert lines == {f"{side} {level} control limit line" for side in ("Lower", "Upper")
                     for level in ("95%", "99.8%")}  # fmt: skip
    canvas = live_funnel(HIGHER, "2016/17 Q3", many=True)
    assert "aria_text" not in canvas["datasets"]["funnel_points"].columns


@pytest.mark.parametrize("live", [True, False], ids=["live", "download"])
def test_funnel_counts_thousands_of_areas_with_a_separator(live):
    """As the page's caption counts them ("6,471 areas plotted"), not "6471"."""
    points, limits = funnel_frames()
    many = pd.concat([points] * 200, ignore_index=True)
    many["area_code"] = [f"P{i:05d}" for i in range(len(many))]
    chart = charts.funnel_chart(
        many, limits, indicator=HIGHER, target=74.0, finding=FINDING, period="2016/17 Q3",
        comparator_note="England 74.0%", adjusted_note="", live=live,
    )  # fmt: skip
    text = json.dumps(chart["datasets"]["funnel_meta"]) if live else chart.to_json()
    assert "Funnel plot of 1,200 areas" in text and "n = 1,200 areas" in text


def test_live_funnel_spec_names_no_number_of_areas():
    """The description used to say "Funnel plot of 196 areas": one area suppressed in another
    indicator changed the spec, and the browser compiled the whole chart again."""
    spec = live_funnel(HIGHER, "2016/17 Q3")
    spec.pop("datasets")
    text = json.dumps(spec)
    assert not re.search(r"[0-9][0-9,]* areas", text), spec["description"]
    assert "2016/17" not in text and HIGHER.code not in text


def test_live_funnel_draws_what_the_altair_chart_draws():
    """The live spec is built once by Altair and reused; its points, limits and legend are
    those of the written-out chart the downloads use."""
    live = as_json(live_funnel(HIGHER, "2016/17 Q3"))
    full = live_funnel(HIGHER, "2016/17 Q3", live=False).to_dict()
    for mark in ("symbol", "line", "rule"):
        assert len(scenegraph_items(live, mark)) == len(scenegraph_items(full, mark)), mark


@pytest.mark.parametrize("indicator", [HIGHER, LOWER], ids=["higher", "lower"])
def test_live_funnel_draws_its_titles_range_and_centre_line_from_its_data(indicator):
    spec = as_json(live_funnel(indicator, "2016/17 Q3"))
    graph = vlc.vegalite_to_scenegraph(spec)
    drawn = " ".join(
        str(item["text"])
        for d in walk(graph)
        if d.get("marktype") == "text"
        for item in d.get("items", [])
        if item.get("text")
    )
    assert f"{indicator.code}" in drawn and indicator.polarity_words in drawn
    assert "Funnel plot of 6 areas, 2016/17 Q3" in drawn
    assert f"({indicator.unit})" in drawn  # the y axis title
    assert "Denominator (size of area)" in drawn
    rules = scenegraph_items(spec, "rule")
    assert rules, "the centre line is drawn"


def test_live_funnel_tooltip_gives_the_value_with_its_unit():
    rows = live_funnel(LOWER, "2016/17 Q3")["datasets"]["funnel_points"]
    assert rows["value_text"].iloc[0] == f"60.0 {LOWER.unit}"
    # Its numbers come formatted, as the downloads' tooltips format them in the browser.
    assert rows["denominator_text"].tolist() == [f"{d:,.0f}" for d in rows["denominator"]]
    # The z-score travels only as text (the live chart reads no number from it).
    assert rows["z_text"].tolist() == [f"{z:.2f}" for z in funnel_frames()[0]["z"]]
    assert "z" not in rows.columns
