"""Altair chart builders for IAF Explorer: funnel, ranked bars, SPC, spine, tartan rug, maps.

Each builder takes a results frame as the calculation left it (already filtered to the rows it
draws), adds display columns only, and returns a finished top-level chart:

- every colour comes from one semantic mapping below (:data:`SIGNIFICANCE`, :data:`SPC`,
  :data:`FUNNEL`, :data:`RATINGS`), colour-blind-safe (Okabe–Ito; NHS England "Making Data
  Count" for SPC), and every colour has a glyph and a word beside it in the legend ("▲ Better");
- the title says "higher is better" / "lower is better" in words; the subtitle states the method,
  comparator, source, period and n, so a saved PNG explains itself;
- the caller's one-sentence finding becomes the chart's ``description`` (the screen-reader text);
- clickable charts carry a point selection named ``pick`` (on ``area_code``) or ``cell`` (on
  ``area_code`` + ``indicator``) so ``st.altair_chart(on_select="rerun")`` returns it;
- fonts are projector-sized (axis labels ≥ 14 px).

Charts never switch off Altair's 5,000-row guard: the tartan rug ships one row per area (wide)
and unfolds it in Vega, so 200 areas × 57 indicators travel as 200 rows.

Names that came from files (area names, codes) are data, drawn as text by Vega; they never
reach a Vega expression. Selected codes are compared with a field predicate, not an expression.

References
----------
- Altair user guide, "Large datasets" and the example gallery (layering, error bars, facets).
- NHS England / NHS Improvement, *Making Data Count* (2019): SPC colours and icons.
- Public Health England, Fingertips spine charts and "tartan rug" area profiles.
- Okabe M, Ito K. *Color Universal Design*, 2008 (the colour-blind-safe palette).
- Spiegelhalter DJ. Funnel plots for comparing institutional performance. Stat Med 2005;24:1185.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import altair as alt
import numpy as np
import pandas as pd

from iaf.catalogue import CATALOGUE, POLARITY_WORDS, Indicator
from iaf.errors import InputError

__all__ = [
    "FUNNEL",
    "FUNNEL_LINES",
    "RATINGS",
    "RATING_ORDER",
    "SIGNIFICANCE",
    "SPC",
    "SPC_LINES",
    "TREND",
    "Style",
    "choropleth",
    "funnel_chart",
    "national_trend",
    "ranked_bar_chart",
    "ratings_chart",
    "significance_label",
    "small_multiples",
    "spc_chart",
    "spine_chart",
    "spine_positions",
    "tartan_rug",
]


# ── One semantic colour mapping ─────────────────────────────────────────────────────────────
@dataclass(frozen=True, slots=True)
class Style:
    """How one category is drawn: fill colour, a glyph and words beside it, a point shape."""

    colour: str
    glyph: str
    words: str
    shape: str = "circle"
    stroke: str | None = None  # outline, for fills that vanish on white
    ink: str = "#212B32"  # text colour drawn on top of the fill

    @property
    def label(self) -> str:
        return f"{self.glyph} {self.words}"

    @property
    def outline(self) -> str:
        return self.stroke or self.colour


TEXT = "#212B32"  # NHS Black
SUBTLE = "#4C6272"  # NHS Dark Grey
WHITE = "#FFFFFF"
FONT = "Arial, Helvetica, sans-serif"  # browsers fall back glyph by glyph for ▲ △ ◆
# Readable from the back of a room (STYLE.md: projector-sized fonts).
AXIS_FONT, TITLE_FONT, SUBTITLE_FONT = 14, 20, 14

# Fingertips comparison labels (iaf.stats.benchmark.compare_with_benchmark) plus a lighter tint
# for "significant at 95% but not at 99.8%" (see significance_label).
SIGNIFICANCE: dict[str, Style] = {
    "better": Style("#0072B2", "▲", "Better", "triangle-up", ink=WHITE),
    "better (95% only)": Style("#80B9D9", "▲", "Better (95% only)", "triangle-up"),
    "similar": Style("#BDBDBD", "●", "Similar", "circle"),
    "worse": Style("#D55E00", "▼", "Worse", "triangle-down", ink=WHITE),
    "worse (95% only)": Style("#EAAF80", "▼", "Worse (95% only)", "triangle-down"),
    "higher": Style("#56B4E9", "△", "Higher", "triangle-up"),
    "higher (95% only)": Style("#ABDAF4", "△", "Higher (95% only)", "triangle-up"),
    "lower": Style("#E69F00", "▽", "Lower", "triangle-down"),
    "lower (95% only)": Style("#F3CF80", "▽", "Lower (95% only)", "triangle-down"),
    "not compared": Style(WHITE, "○", "Not compared", "circle", stroke="#7B7D7D"),
}
_SIGNIFICANT = ("better", "worse", "higher", "lower")

# NHS England Making Data Count point colours; keys are iaf.stats.spc POINT_TYPES.
SPC: dict[str, Style] = {
    "common_cause": Style("#7B7D7D", "●", "Common cause", "circle", ink=WHITE),
    "special_cause_improvement": Style("#289DE0", "■", "Special cause: improvement", "square"),
    "special_cause_concern": Style("#FAB428", "◆", "Special cause: concern", "diamond"),
    "special_cause_neutral_high": Style(
        "#361475", "▲", "Special cause: neutral (high)", "triangle-up", ink=WHITE
    ),
    "special_cause_neutral_low": Style(
        "#361475", "▼", "Special cause: neutral (low)", "triangle-down", ink=WHITE
    ),
}
SPC_LINES: dict[str, str] = {"limit": "#7B7D7D", "mean": "#212B32", "target": "#DA291C"}

# Funnel judgements (iaf.stats.funnel.polarity_concern), and raw outliers for no-judgement
# indicators, where "high"/"low" is all that can be said.
FUNNEL: dict[str, Style] = {
    "better than expected": Style("#0072B2", "▲", "Better than expected", "triangle-up"),
    "in control": Style("#9E9E9E", "●", "Within limits", "circle"),
    "concern": Style("#D55E00", "▼", "Concern (worse than expected)", "triangle-down"),
    "high outlier": Style("#56B4E9", "△", "High outlier", "triangle-up"),
    "low outlier": Style("#E69F00", "▽", "Low outlier", "triangle-down"),
}
FUNNEL_LINES: dict[str, Any] = {
    "colour": "#4C6272",
    "target": "#212B32",
    "95% limits": [6, 4],  # dashed
    "99.8% limits": [1, 0],  # solid
}

# England's trend: NHS Blue line over a light band for its confidence interval.
TREND: dict[str, str] = {"line": "#005EB8", "band": "#56B4E9"}

RATING_ORDER: tuple[str, ...] = ("Inadequate", "Requires improvement", "Good", "Outstanding")
RATINGS: dict[str, Style] = {
    "Outstanding": Style("#0072B2", "★", "Outstanding", "diamond", ink=WHITE),
    "Good": Style("#56B4E9", "●", "Good", "circle"),
    "Requires improvement": Style("#E69F00", "▽", "Requires improvement", "triangle-down"),
    "Inadequate": Style("#D55E00", "▼", "Inadequate", "triangle-down", ink=WHITE),
}

_DEFAULT_SOURCE = "CCG IAF indicator data"
# Making Data Count icon names in words (NHS England, Making Data Count, 2019).
ICON_WORDS = {
    "common_cause": "common cause variation",
    "special_cause_improvement": "special cause improvement",
    "special_cause_concern": "special cause concern",
    "special_cause_neutral_high": "special cause (higher; no judgement)",
    "special_cause_neutral_low": "special cause (lower; no judgement)",
    "consistent_pass": "consistently passes the target",
    "consistent_fail": "consistently fails the target",
    "inconsistent": "hits and misses the target at random",
}
_SHORT_LABELS = {i.code: f"{i.code} {i.short_name}" for i in CATALOGUE}
_LIMIT_COLUMNS = ("lower_95", "upper_95", "lower_998", "upper_998")
_LIMIT_BANDS = ("95% limits", "95% limits", "99.8% limits", "99.8% limits")
# The points' z is before any overdispersion adjustment (FunnelResult.z), so with adjusted
# limits an area can have |z| of 20 and lie within them: the tooltip says which z it is.
_Z_TITLE = "z-score (unadjusted)"
_FUNNEL_POINT_COLUMNS = ("area_code", "area_name", "denominator", "value", "z", "judgement_label")


# ── Public helpers ──────────────────────────────────────────────────────────────────────────
def significance_label(sig_95: Iterable[str], sig_998: Iterable[str]) -> pd.Series:
    """One label per row from the 95% and 99.8% comparisons, for the :data:`SIGNIFICANCE` map.

    Significant at 99.8% keeps its plain label ("better"); significant at 95% only becomes
    "better (95% only)", drawn in a lighter tint of the same colour with the same glyph.
    """
    s95 = pd.Series(list(sig_95), dtype=object).fillna("not compared")
    s998 = pd.Series(list(sig_998), dtype=object).fillna("not compared")
    if len(s95) != len(s998):
        raise InputError(
            f"sig_95 and sig_998 must have the same length; got {len(s95)} and {len(s998)}."
        )
    strong = s998.isin(_SIGNIFICANT)
    weak = ~strong & s95.isin(_SIGNIFICANT)
    return pd.Series(
        np.select([strong, weak], [s998, s95 + " (95% only)"], default=s95), dtype=object
    )


def spine_positions(rows: pd.DataFrame) -> pd.DataFrame:
    """Fingertips spine-chart positions on [0, 1]: England at 0.5, the furthest end at 0 or 1.

    Each indicator is scaled by the largest distance from England to its minimum or maximum,
    so England sits in the centre and the end further from England touches the edge. Polar
    indicators are flipped so "worse" is on the left; no-judgement indicators put lower on the
    left. Polarity comes from a ``polarity`` column, else from the catalogue by ``indicator``.

    Returns ``rows`` with ``pos_value``, ``pos_left``, ``pos_q_left``, ``pos_q_right`` and
    ``pos_right`` (the range and interquartile range, ordered left to right).
    """
    _require(rows, ["indicator", "value", "england", "min", "q25", "q75", "max"], "spine rows")
    polarity = _polarity_of(rows)
    sign = np.where(polarity == "lower_is_better", -1.0, 1.0)
    eng = rows["england"].to_numpy(float)
    reach = np.fmax(
        np.abs(rows["min"].to_numpy(float) - eng), np.abs(rows["max"].to_numpy(float) - eng)
    )
    reach = np.where(reach > 0, reach, 1.0)

    def pos(col: str) -> np.ndarray:
        return 0.5 + sign * (rows[col].to_numpy(float) - eng) / (2 * reach)

    lo, hi, q1, q3 = pos("min"), pos("max"), pos("q25"), pos("q75")
    return rows.assign(
        polarity=polarity,
        pos_value=pos("value"),
        pos_left=np.fmin(lo, hi),
        pos_q_left=np.fmin(q1, q3),
        pos_q_right=np.fmax(q1, q3),
        pos_right=np.fmax(lo, hi),
    )


# ── 1. Funnel plot ──────────────────────────────────────────────────────────────────────────
def funnel_chart(
    points: pd.DataFrame,
    limits: pd.DataFrame,
    *,
    indicator: Indicator,
    target: float,
    finding: str,
    period: str,
    comparator_note: str,
    adjusted_note: str,
    selected: str | None = None,
    source: str = _DEFAULT_SOURCE,
    x_title: str = "Denominator (size of area)",
    live: bool = False,
    many: bool = False,
) -> alt.LayerChart | dict[str, Any]:
    """Funnel plot of value against denominator with 95% (dashed) and 99.8% (solid) limits.

    ``points``: area_code, area_name, denominator, value, outlier ("high"/"low"/""),
    concern ("concern"/"better than expected"/""), z. ``limits``: a grid of denominator,
    lower_95, upper_95, lower_998, upper_998. Clicking a point selects ``pick`` on area_code.

    ``live=True`` is the on-screen variant, a Vega-Lite spec (a dict, its data in
    ``datasets``) for ``st.vega_lite_chart``: its spec is the same for every indicator, period
    and number of areas (see :func:`_live_funnel`), so Streamlit swaps the data of the chart
    already drawn instead of compiling a new Vega view. It reads its titles from data through
    expressions, which Vega-Lite compiles but its JSON schema does not describe: downloads
    and exports use the default, fully written-out spec. ``many`` (live only): draw on a
    canvas without per-point descriptions for screen readers, whatever the number of points.
    """
    _require(
        points,
        ["area_code", "area_name", "denominator", "value", "outlier", "concern", "z"],
        "funnel points",
    )
    _require(limits, ["denominator", *_LIMIT_COLUMNS], "funnel limits")
    _need_text(finding, "finding")
    if live:
        return _live_funnel(
            points,
            limits,
            indicator=indicator,
            target=target,
            period=period,
            comparator_note=comparator_note,
            adjusted_note=adjusted_note,
            selected=selected,
            source=source,
            x_title=x_title,
            many=many,
        )
    fmt = _value_format(indicator)
    judged = _styled(
        points.assign(judgement=_funnel_judgement(points)), "judgement", FUNNEL, "funnel judgement"
    )
    # Only the columns the marks draw travel to the browser (the label only for a highlight).
    shown = (_named(judged) if selected is not None else judged)[
        [*_FUNNEL_POINT_COLUMNS, *(["area_label"] if selected is not None else [])]
    ]
    y_scale = alt.Scale(domain=_funnel_domain(points, limits, target, indicator), nice=True)
    x = alt.X("denominator:Q", title=x_title, scale=alt.Scale(zero=False))

    bands = _funnel_bands(
        limits, x, alt.Y("limit_value:Q", scale=y_scale, title=_axis_title(indicator))
    )
    centre = (
        alt.Chart(pd.DataFrame({"target": [float(target)]}))
        .mark_rule(color=FUNNEL_LINES["target"], strokeWidth=2)
        .encode(y=alt.Y("target:Q", scale=y_scale), tooltip=[alt.Tooltip("target:Q", format=fmt)])
    )
    base = alt.Chart(shown)
    dots = _funnel_dots(
        base,
        judged,
        x,
        y_scale,
        alt.Tooltip("value:Q", title=f"Value ({indicator.unit})", format=fmt),
    )
    layers: list[alt.Chart] = [bands, centre, dots, *_highlight(base, selected, "value", y_scale)]
    n = len(points)
    subtitle = [
        f"Funnel plot of {n:,} areas, {period}: outside the dashed (95%) or solid (99.8%) "
        "limits is more than chance.",
        f"Centre line: {comparator_note}. {adjusted_note}",
        f"Source: {source}. n = {n:,} areas.",
    ]
    chart = alt.layer(*layers).properties(title=_title(indicator, subtitle), width=640, height=460)
    return _finish(chart, finding)


def _limit_dashes() -> alt.Scale:
    """The "Control limits" scale: 95% dashed, 99.8% solid."""
    return alt.Scale(
        domain=["95% limits", "99.8% limits"],
        range=[FUNNEL_LINES["95% limits"], FUNNEL_LINES["99.8% limits"]],
    )


def _funnel_bands(limits: pd.DataFrame, x: alt.X, y: alt.Y) -> alt.Chart:
    """The funnel's 95% (dashed) and 99.8% (solid) limit lines."""
    return (
        alt.Chart(_limit_lines(limits))
        .mark_line(clip=True, color=FUNNEL_LINES["colour"], strokeWidth=1.5)
        .encode(
            x=x,
            y=y,
            detail=alt.Detail("limit:N"),
            strokeDash=alt.StrokeDash("band:N", title="Control limits", scale=_limit_dashes()),
        )
    )


_LIMIT_WORDS = {
    "lower_95": "Lower 95%",
    "upper_95": "Upper 95%",
    "lower_998": "Lower 99.8%",
    "upper_998": "Upper 99.8%",
}


def _live_funnel_bands(x: alt.X, **y: Any) -> list[alt.Chart]:
    """The live funnel's limit lines: the same four lines as :func:`_funnel_bands`, one layer
    each reading its own column of the grid as it comes (a few numbers a row, folded by
    nobody), with its dash a constant of the shared "Control limits" scale. In alternating
    browser runs at CCG scale this drew a change about 35 ms sooner than the folded table. A
    scale on a constant (``datum``) is compiled by Vega-Lite but not described by its schema,
    like the live chart's expressions, so the downloads keep :func:`_funnel_bands`. ``y``: the
    lines' ``alt.Y`` options."""
    base = alt.Chart(alt.NamedData(name=_LIVE_LIMITS))
    return [
        base.mark_line(
            clip=True,
            color=FUNNEL_LINES["colour"],
            strokeWidth=1.5,
            description=f"{_LIMIT_WORDS[column]} control limit line",
        ).encode(
            x=x,
            y=alt.Y(f"{column}:Q", **y),
            strokeDash={
                "datum": band,
                "type": "nominal",
                "title": "Control limits",
                "scale": _limit_dashes().to_dict(),
            },
        )
        for column, band in zip(_LIMIT_COLUMNS, _LIMIT_BANDS, strict=True)
    ]


def _funnel_dots(
    base: alt.Chart,
    keyed: pd.DataFrame,
    x: alt.X,
    y_scale: alt.Scale,
    value: alt.Tooltip,
    numbers: tuple[alt.Tooltip, alt.Tooltip] | None = None,
) -> alt.Chart:
    """The funnel's points, coloured and shaped by judgement (the legend lists ``keyed``'s),
    with the ``pick`` click selection; ``value`` is the tooltip's value line, ``numbers`` its
    denominator and z-score lines (by default formatted in the browser)."""
    den, z = numbers or (
        alt.Tooltip("denominator:Q", title="Denominator", format=",.0f"),
        alt.Tooltip("z:Q", title=_Z_TITLE, format=".2f"),
    )
    pick = alt.selection_point(name="pick", fields=["area_code"], on="click")
    return (
        base.mark_point(filled=True, size=110, strokeWidth=1)
        .encode(
            x=x,
            y=alt.Y("value:Q", scale=y_scale),
            color=_colour(keyed, "judgement", FUNNEL, "Funnel plot"),
            shape=_shape(keyed, "judgement", FUNNEL),
            stroke=alt.StrokeValue(TEXT),
            opacity=_opacity_by(pick, 0.95, 0.35),
            tooltip=[
                alt.Tooltip("area_name:N", title="Area"),
                alt.Tooltip("area_code:N", title="Code"),
                value,
                den,
                z,
                alt.Tooltip("judgement_label:N", title="Funnel plot"),
            ],
        )
        .add_params(pick)
    )


_FUNNEL_META = "funnel_meta"
# The judgements a funnel plot can show, by kind of indicator: the legend always lists all of
# them (as Fingertips keys do), so it reads the same from one indicator to the next.
_FUNNEL_KINDS = {
    True: ("better than expected", "in control", "concern"),
    False: ("in control", "high outlier", "low outlier"),
}


def _meta(field: str) -> alt.ExprRef:
    """A value of the live funnel's one-row ``funnel_meta`` dataset, as a Vega expression."""
    return alt.ExprRef(f"data({_js_string(_FUNNEL_META)})[0][{_js_string(field)}]")


_LIVE_POINTS = "funnel_points"
_LIVE_LIMITS = "funnel_limits"
_LIVE_DESCRIPTION = (
    "Funnel plot: value against denominator for each area, with 95% and 99.8% control limits; "
    "the indicator, period, number of areas and finding are named above the chart."
)


def _live_funnel(
    points: pd.DataFrame,
    limits: pd.DataFrame,
    *,
    indicator: Indicator,
    target: float,
    period: str,
    comparator_note: str,
    adjusted_note: str,
    selected: str | None,
    source: str,
    x_title: str,
    many: bool = False,
) -> dict[str, Any]:
    """The funnel plot with nothing about the indicator, period or areas written into its spec.

    Streamlit re-creates the Vega view (compiling the layered spec again) whenever the spec,
    datasets aside, differs from the one drawn, and otherwise swaps the datasets in place: in
    paired browser runs that saved 0.2-0.46 s per indicator change at CCG scale. So the
    title, subtitle, axis titles, y range and centre line are read from a one-row dataset
    named ``funnel_meta``; the tooltip's value is text with its unit; the legend lists every
    judgement of the indicator's kind; and the description names only what is drawn (the
    page states the finding and the number of areas next to the chart).

    The spec comes as a plain dict for ``st.vega_lite_chart``, with its three datasets (points,
    limit lines, meta) under fixed names in ``datasets``. The spec itself is built with Altair
    once per legend and highlight (:func:`_live_funnel_template`): building the layered chart
    and converting it took about 80 ms of every rerun at CCG scale, for the same spec.
    """
    n = len(points)
    kinds = _FUNNEL_KINDS[indicator.polarity != "no_judgement"]
    judged = _styled(
        points.assign(judgement=_funnel_judgement(points)), "judgement", FUNNEL, "funnel judgement"
    )
    present = set(judged["judgement"])
    keys = tuple(k for k in FUNNEL if k in kinds or k in present)
    value_text = _texts(
        judged["value"], _value_format(indicator).replace("~", ""), f" {indicator.unit}"
    )
    shown = (_named(judged) if selected is not None else judged).assign(
        value_text=value_text,
        denominator_text=_texts(judged["denominator"], ",.0f"),
        z_text=_texts(judged["z"], ".2f"),
    )[
        [
            *(c for c in _FUNNEL_POINT_COLUMNS if c not in ("value", "z")),
            "value",
            "value_text",
            "denominator_text",
            "z_text",
            *(["area_label"] if selected is not None else []),
        ]
    ]
    if not many:
        # Each point's ARIA label, in the tooltip's words: Vega-Lite's own named raw fields
        # twice over ("denominator: 40070; value: 77; …; judgement_label: …").
        shown = shown.assign(aria_text=_aria_texts(shown))
    lo, hi = _funnel_domain(points, limits, target, indicator)
    meta = {
        "target": float(target),
        "title": _title(indicator, []).text,
        "sub1": f"Funnel plot of {n:,} areas, {period}: outside the dashed (95%) or solid "
        "(99.8%) limits is more than chance.",
        "sub2": f"Centre line: {comparator_note}. {adjusted_note}",
        "sub3": f"Source: {source}. n = {n:,} areas.",
        "x_title": x_title,
        "y_title": _axis_title(indicator),
        "y_lo": lo,
        "y_hi": hi,
    }
    spec = json.loads(_live_funnel_template(keys, selected, many))
    spec["datasets"] = {
        _FUNNEL_META: [meta],
        _LIVE_POINTS: shown.reset_index(drop=True),
        _LIVE_LIMITS: limits[["denominator", *_LIMIT_COLUMNS]].reset_index(drop=True),
    }
    return spec


_LIVE_TOOLTIP = (
    ("Area", "area_name"),
    ("Code", "area_code"),
    ("Value", "value_text"),
    ("Denominator", "denominator_text"),
    (_Z_TITLE, "z_text"),
    ("Funnel plot", "judgement_label"),
)


def _aria_texts(shown: pd.DataFrame) -> np.ndarray:
    """ "Area: …; Code: …; Value: …; Denominator: …; z-score (unadjusted): …; Funnel plot: …"
    per point: the tooltip's titles and text, in its order."""
    columns = [shown[field].astype(str).to_numpy(dtype=object) for _, field in _LIVE_TOOLTIP]
    return np.array(
        [
            "; ".join(
                f"{title}: {text}" for (title, _), text in zip(_LIVE_TOOLTIP, row, strict=True)
            )
            for row in zip(*columns, strict=True)
        ],
        dtype=object,
    )


def _texts(values: pd.Series, spec: str, suffix: str = "") -> np.ndarray:
    """Numbers as text for a tooltip, in the format ``spec`` ("–" where missing)."""
    numbers = values.to_numpy(dtype=float, na_value=np.nan)
    out = np.array([format(v, spec) + suffix for v in numbers.tolist()], dtype=object)
    out[np.isnan(numbers)] = "–"
    return out


@functools.lru_cache(maxsize=32)
def _live_funnel_template(keys: tuple[str, ...], selected: str | None, many: bool) -> str:
    """The live funnel's spec as JSON, its data referred to by name only (see _live_funnel).

    Converted as Streamlit converts an Altair chart (no Altair theme: Streamlit switches
    Altair's default theme off), but not at top level, so that Altair adds no theme; the
    ``$schema`` it would add is added here.

    ``many``: the canvas renderer and no per-mark ARIA, set here. Streamlit sets both itself
    on a chart with over 2,000 points (or 5,000 rows), so at practice level an indicator with
    fewer practices with counts than that and the next with more had different specs, and the
    browser compiled the chart again between them; set for a whole dataset, it stays put.
    """
    legend = pd.DataFrame({"judgement": pd.Series(list(keys), dtype=object)})
    y_scale = alt.Scale(domain=[_meta("y_lo"), _meta("y_hi")], nice=True)
    # Axis titles as dicts: alt.Axis checks a title against the schema, which has no
    # expressions there either (Vega-Lite compiles them).
    x = alt.X(
        "denominator:Q", axis={"title": _meta("x_title").to_dict()}, scale=alt.Scale(zero=False)
    )
    bands = _live_funnel_bands(x, scale=y_scale, axis={"title": _meta("y_title").to_dict()})
    centre = (
        alt.Chart(alt.NamedData(name=_FUNNEL_META))
        .mark_rule(color=FUNNEL_LINES["target"], strokeWidth=2)
        .encode(
            y=alt.Y("target:Q", scale=y_scale),
            tooltip=[alt.Tooltip("target:Q", title="Centre line", format=",.4~f")],
        )
    )
    base = alt.Chart(alt.NamedData(name=_LIVE_POINTS))
    # The tooltip's numbers come as text: Vega works out every point's tooltip when the data
    # change, and formatting 6,500 numbers twice through its expression interpreter cost more
    # than sending them formatted.
    dots = _funnel_dots(
        base,
        legend,
        x,
        y_scale,
        alt.Tooltip("value_text:N", title="Value"),
        (
            alt.Tooltip("denominator_text:N", title="Denominator"),
            alt.Tooltip("z_text:N", title=_Z_TITLE),
        ),
    )
    # A fixed view name: Altair would otherwise name it by a hash of the whole chart.
    dots.name = "funnel_points"
    layers = [*bands, centre, dots, *_highlight(base, selected, "value", y_scale)]
    chart = alt.layer(*layers)
    lines = ", ".join(_meta(k).expr for k in ("sub1", "sub2", "sub3"))
    # A plain dict: TitleParams checks a subtitle against the schema, which has no expressions.
    chart.title = {"text": _meta("title").to_dict(), "subtitle": {"expr": f"[{lines}]"}}
    chart.width, chart.height = 640, 460
    chart = _finish(chart, _LIVE_DESCRIPTION)
    spec = chart.to_dict(validate=False, context={"top_level": False})
    points_layer = next(layer for layer in spec["layer"] if layer.get("name") == dots.name)
    _lean_tooltip(points_layer)
    if not many:
        # Each point's ARIA label is the ``aria_text`` column (see _live_funnel).
        points_layer["encoding"]["description"] = {"field": "aria_text", "type": "nominal"}
    else:
        spec["usermeta"] = {"embedOptions": {"renderer": "canvas"}}
        spec["config"] = {
            **spec["config"],
            "mark": {**spec["config"].get("mark", {}), "aria": False},
        }
    return json.dumps({"$schema": alt.SCHEMA_URL, **spec})


def _lean_tooltip(layer: dict[str, Any]) -> None:
    """Move ``layer``'s tooltip fields (all text) into one object expression on its mark.

    Vega works out every point's tooltip when the data change, through its expression
    interpreter (Streamlit's CSP-safe build). Vega-Lite writes each text field as
    ``isValid(datum.f) ? datum.f : "" + datum.f``; one object of plain ``datum.f`` reads does
    the same for text that is never missing (``_texts`` writes "–" for a missing number). In
    paired browser runs at practice scale an indicator change was 79 ms sooner (17 of 20).
    Vega-Lite builds each point's ARIA description from its tooltip encoding, so a chart with
    ARIA on its marks gives them their own description (see _live_funnel's ``aria_text``).
    """
    fields = layer["encoding"].pop("tooltip")
    pairs = ", ".join(f"{_js_string(f['title'])}: datum[{_js_string(f['field'])}]" for f in fields)
    layer["mark"] = {**layer["mark"], "tooltip": {"expr": f"{{{pairs}}}"}}


# ── 2. Ranked bars with CIs ─────────────────────────────────────────────────────────────────
def ranked_bar_chart(
    rows: pd.DataFrame,
    *,
    indicator: Indicator,
    comparator_value: float,
    comparator_name: str,
    finding: str,
    period: str,
    selected: str | None = None,
    source: str = _DEFAULT_SOURCE,
) -> alt.LayerChart:
    """Areas ranked best first (horizontal bars) with 95% CIs and a comparator line.

    ``rows``: area_code, area_name, value, lower_95, upper_95, sig (a :data:`SIGNIFICANCE` key).
    Bars run horizontally so 200 area names stay readable; the CI is an explicit x/x2 pair.
    Clicking a bar selects ``pick`` on area_code.
    """
    _require(
        rows, ["area_code", "area_name", "value", "lower_95", "upper_95", "sig"], "ranked rows"
    )
    _need_text(finding, "finding")
    fmt = _value_format(indicator)
    shown = _styled(_named(rows), "sig", SIGNIFICANCE, "significance")
    # An explicit order, not a sort field: layers with filtered data would make Vega-Lite drop it.
    order = shown.sort_values(
        ["value", "area_label"],
        ascending=[indicator.polarity == "lower_is_better", True],
        na_position="last",
    )["area_label"].tolist()
    y = alt.Y("area_label:N", title=None, sort=order, axis=alt.Axis(labelLimit=320))
    x_title = _axis_title(indicator)
    pick = alt.selection_point(name="pick", fields=["area_code"], on="click")
    base = alt.Chart(shown).encode(y=y)
    bars = (
        base.mark_bar(strokeWidth=1)
        .encode(
            x=alt.X("value:Q", title=x_title),
            color=_colour(shown, "sig", SIGNIFICANCE, f"Compared with {comparator_name}"),
            stroke=_stroke(shown, "sig", SIGNIFICANCE),
            opacity=_opacity_by(pick, 1.0, 0.4),
            tooltip=[
                alt.Tooltip("area_name:N", title="Area"),
                alt.Tooltip("area_code:N", title="Code"),
                alt.Tooltip("value:Q", title=f"Value ({indicator.unit})", format=fmt),
                alt.Tooltip("lower_95:Q", title="95% CI lower", format=fmt),
                alt.Tooltip("upper_95:Q", title="95% CI upper", format=fmt),
                alt.Tooltip("sig_label:N", title=f"Compared with {comparator_name}"),
            ],
        )
        .add_params(pick)
    )
    whiskers = base.mark_rule(color=TEXT, strokeWidth=1.5).encode(
        x=alt.X("lower_95:Q"), x2=alt.X2("upper_95:Q")
    )
    comp = pd.DataFrame(
        {"value": [float(comparator_value)], "label": [f"{comparator_name}: "]}
    ).assign(label=lambda f: f["label"] + _format_number(comparator_value, indicator))
    comp_base = alt.Chart(comp).encode(x=alt.X("value:Q"))
    rule = comp_base.mark_rule(color=TEXT, strokeWidth=2.5, strokeDash=[8, 4])
    rule_label = comp_base.mark_text(
        align="center", baseline="bottom", y=-4, fontSize=AXIS_FONT, fontWeight="bold", color=TEXT
    ).encode(text=alt.Text("label:N"))
    layers = [bars, whiskers, rule, rule_label]
    if selected is not None:
        chosen = base.transform_filter(alt.FieldEqualPredicate(field="area_code", equal=selected))
        layers.append(
            chosen.mark_bar(fillOpacity=0, stroke=TEXT, strokeWidth=3).encode(x=alt.X("value:Q"))
        )
    n = len(rows)
    subtitle = [
        f"{n:,} areas, {period}, best first. Whiskers: 95% confidence intervals. "
        f"Dashed line: {comparator_name}.",
        f"Colour: significantly different from {comparator_name} or not (CI does not include "
        "it). Source: " + f"{source}. n = {n:,} areas.",
    ]
    chart = alt.layer(*layers).properties(
        title=_title(indicator, subtitle), width=560, height=alt.Step(20)
    )
    return _finish(chart, finding)


# ── 3. SPC chart ────────────────────────────────────────────────────────────────────────────
def spc_chart(
    points: pd.DataFrame,
    *,
    indicator: Indicator,
    finding: str,
    target: float | None = None,
    area_name: str,
    variation: str | None = None,
    assurance: str | None = None,
    source: str = _DEFAULT_SOURCE,
) -> alt.LayerChart:
    """XmR chart in NHS England Making Data Count colours, with process limits and target.

    ``points``: period (label), period_end (date), value, mean, lpl, upl, point_type (an
    :data:`SPC` key). ``variation`` and ``assurance`` are the MDC icon names (as
    ``iaf.stats.spc.xmr_summary`` gives them); the variation icon defaults to the last point's
    type. Both are named in the subtitle.
    """
    _require(
        points, ["period", "period_end", "value", "mean", "lpl", "upl", "point_type"], "SPC points"
    )
    _need_text(finding, "finding")
    fmt = _value_format(indicator)
    shown = _styled(points, "point_type", SPC, "SPC point type")
    x = alt.X("period_end:T", title="Period ending")
    y_title = _axis_title(indicator)
    base = alt.Chart(shown).encode(x=x)
    layers = [
        *_spc_lines(base, y_title, target),
        base.mark_point(filled=True, size=120, stroke=TEXT, strokeWidth=0.8).encode(
            y="value:Q",
            color=_colour(shown, "point_type", SPC, "Variation"),
            shape=_shape(shown, "point_type", SPC),
            tooltip=[
                alt.Tooltip("period:N", title="Period"),
                alt.Tooltip("value:Q", title=f"Value ({indicator.unit})", format=fmt),
                alt.Tooltip("mean:Q", title="Mean", format=fmt),
                alt.Tooltip("lpl:Q", title="Lower process limit", format=fmt),
                alt.Tooltip("upl:Q", title="Upper process limit", format=fmt),
                alt.Tooltip("point_type_label:N", title="Variation"),
            ],
        ),
    ]
    if target is not None:
        layers.append(_target_rule(target))
    ordered = shown.sort_values("period_end")
    variation = variation or (str(ordered["point_type"].iloc[-1]) if len(ordered) else "none")
    assurance = assurance or ("no target set" if target is None else "not assessed")
    variation = ICON_WORDS.get(variation, variation)
    assurance = ICON_WORDS.get(assurance, assurance)
    first, last = ordered["period"].iloc[[0, -1]].astype(str) if len(ordered) else ("", "")
    subtitle = [
        f"{area_name}. XmR chart (NHS England Making Data Count), {len(points)} periods, "
        f"{first} to {last}.",
        f"Variation icon: {variation}. Assurance icon: {assurance}. Grey dashed lines: process "
        "limits; solid: mean" + ("; red dashed: target." if target is not None else "."),
        f"Source: {source}. n = {len(points)} periods.",
    ]
    chart = alt.layer(*layers).properties(title=_title(indicator, subtitle), width=640, height=380)
    return _finish(chart, finding)


# ── 4. Spine chart ──────────────────────────────────────────────────────────────────────────
def spine_chart(
    rows: pd.DataFrame,
    *,
    area_name: str,
    finding: str,
    period: str = "latest period",
    comparator_name: str = "England",
    source: str = _DEFAULT_SOURCE,
) -> alt.HConcatChart:
    """Fingertips-style spine chart: one row per indicator, England in the centre.

    ``rows``: indicator, label (code + short name + polarity words), value, england, min, q25,
    q75, max, sig (a :data:`SIGNIFICANCE` key); optional polarity. Worse is on the left for
    polar indicators (see :func:`spine_positions`). A table of real values sits beside it.
    """
    _require(
        rows,
        ["indicator", "label", "value", "england", "min", "q25", "q75", "max", "sig"],
        "spine rows",
    )
    _need_text(finding, "finding")
    shown = _styled(spine_positions(rows), "sig", SIGNIFICANCE, "significance").assign(
        value_text=lambda f: f["value"].map(_plain_number),
        england_text=lambda f: f["england"].map(_plain_number),
    )
    order = list(dict.fromkeys(shown["label"].astype(str)))
    y = alt.Y("label:N", sort=order, title=None, axis=alt.Axis(labelLimit=560))
    tip = [
        alt.Tooltip("label:N", title="Indicator"),
        alt.Tooltip("value:Q", title=area_name, format=",.4~f"),
        alt.Tooltip("england:Q", title=comparator_name, format=",.4~f"),
        alt.Tooltip("min:Q", title="Lowest area", format=",.4~f"),
        alt.Tooltip("q25:Q", title="25th percentile", format=",.4~f"),
        alt.Tooltip("q75:Q", title="75th percentile", format=",.4~f"),
        alt.Tooltip("max:Q", title="Highest area", format=",.4~f"),
        alt.Tooltip("sig_label:N", title=f"Compared with {comparator_name}"),
    ]
    base = alt.Chart(shown).encode(y=y, tooltip=tip)
    x = alt.X(
        "pos_left:Q",
        scale=alt.Scale(domain=[0, 1]),
        axis=alt.Axis(
            values=[0, 0.5, 1],
            labelExpr=(
                "datum.value == 0 ? '◀ Worse (or lower)' : datum.value == 1 ? "
                f"'Better (or higher) ▶' : {_js_string(comparator_name)}"
            ),
            grid=False,
            labelFontSize=AXIS_FONT,
            labelLimit=400,
            labelFlush=True,
        ),
        title=None,
    )
    spine = alt.layer(
        base.mark_bar(color="#D8DDE0", height={"band": 0.7}).encode(x=x, x2="pos_right:Q"),
        base.mark_bar(color="#8D9BA3", height={"band": 0.7}).encode(
            x="pos_q_left:Q", x2="pos_q_right:Q"
        ),
        alt.Chart(pd.DataFrame({"centre": [0.5]}))
        .mark_rule(color=TEXT, strokeWidth=2.5)
        .encode(x="centre:Q"),
        base.mark_point(filled=True, size=190, strokeWidth=1.2).encode(
            x="pos_value:Q",
            color=_colour(shown, "sig", SIGNIFICANCE, f"Compared with {comparator_name}"),
            shape=_shape(shown, "sig", SIGNIFICANCE),
            stroke=alt.value(TEXT),
        ),
    ).properties(width=460, height=alt.Step(30))
    table = alt.hconcat(
        *[
            base.mark_text(fontSize=AXIS_FONT, align="center", x=45, color=TEXT)
            .encode(text=f"{col}:N", y=alt.Y("label:N", sort=order, axis=None))
            .properties(
                width=90,
                height=alt.Step(30),
                title=alt.TitleParams(heading, fontSize=AXIS_FONT, anchor="middle", offset=20),
            )
            for col, heading in (("value_text", "Value"), ("england_text", comparator_name))
        ],
        spacing=4,
    )
    n = len(rows)
    chart = alt.hconcat(spine, table, spacing=12).properties(
        title=alt.TitleParams(
            f"{area_name}: {n} indicators compared with {comparator_name}",
            subtitle=[
                f"Spine chart, {period}. Centre line: {comparator_name}. Dark grey: middle half "
                "of areas (25th-75th percentile); light grey: full range.",
                "Each row is scaled so the area furthest from England touches the edge; worse "
                "is on the left (lower, where neither is better).",
                f"Marker colour and shape: significance of the difference from "
                f"{comparator_name} (95% CI). Source: {source}. n = {n} indicators.",
            ],
        )
    )
    return _finish(chart, finding)


# ── 5. Tartan rug ───────────────────────────────────────────────────────────────────────────
def tartan_rug(
    cells: pd.DataFrame,
    *,
    finding: str,
    comparator_name: str,
    period: str = "latest period of each indicator",
    source: str = _DEFAULT_SOURCE,
) -> alt.FacetChart:
    """Areas (rows) × indicators (columns, grouped) coloured by significance, glyph on each cell.

    ``cells``: area_code, area_name, indicator, indicator_label, domain, group, sig (a
    :data:`SIGNIFICANCE` key), value — one row per area × indicator, in the order to draw
    (areas top to bottom, groups and indicators left to right by first appearance).

    The cells travel as one row per area (wide) and are unfolded by Vega, so the spec stays
    under Altair's 5,000-row guard at 200 areas × 57 indicators without disabling it. Clicking
    a cell selects ``cell`` on area_code + indicator.
    """
    _require(
        cells,
        [
            "area_code",
            "area_name",
            "indicator",
            "indicator_label",
            "domain",
            "group",
            "sig",
            "value",
        ],
        "tartan rug cells",
    )
    _need_text(finding, "finding")
    _check_keys(cells, "sig", SIGNIFICANCE, "significance")
    dupes = cells.duplicated(["area_code", "indicator"])
    if dupes.any():
        raise InputError(
            f"tartan rug cells must have one row per area and indicator; "
            f"{int(dupes.sum())} repeated, e.g. {_examples(cells.loc[dupes])}."
        )
    named = _named(cells)
    groups = list(dict.fromkeys(named["group"].astype(str)))
    inds = (
        named.drop_duplicates("indicator")
        .assign(group=lambda f: f["group"].astype(str))
        .assign(g=lambda f: f["group"].map({g: i for i, g in enumerate(groups)}))
        .reset_index(drop=True)
        .reset_index(names="first_seen")
        .sort_values(["g", "first_seen"])
        .reset_index(drop=True)
    )
    key = {code: f"k{i}" for i, code in enumerate(inds["indicator"])}
    slot = named["indicator"].map(key)
    areas = list(dict.fromkeys(named["area_code"]))
    wide = (
        named.assign(slot=slot)
        .pivot(index="area_code", columns="slot", values="sig")
        .add_prefix("s_")
        .join(
            named.assign(slot=slot)
            .pivot(index="area_code", columns="slot", values="value")
            .add_prefix("v_")
        )
        .reindex(areas)
        .join(
            named.drop_duplicates("area_code").set_index("area_code")[["area_name", "area_label"]]
        )
        .reset_index()
    )
    wide = wide.astype({c: object for c in wide.columns if c.startswith("s_")})
    index = pd.DataFrame(
        {
            "slot": [key[c] for c in inds["indicator"]],
            "indicator": inds["indicator"].astype(str),
            "indicator_label": inds["indicator_label"].astype(str),
            "domain": inds["domain"].astype(str),
            "group": inds["group"],
        }
    )
    legend = _legend_table(SIGNIFICANCE, "sig")
    ind_order = index["indicator"].tolist()
    area_order = wide["area_label"].astype(str).tolist()
    cell = alt.selection_point(name="cell", fields=["area_code", "indicator"], on="click")
    present = [k for k in SIGNIFICANCE if k in set(cells["sig"])]
    base = alt.Chart().encode(
        x=alt.X(
            "indicator:N",
            sort=ind_order,
            title=None,
            axis=alt.Axis(orient="top", labelAngle=-90, labelFontSize=13),
        ),
        # 13 px names in 18 px rows: every row named (at the house size, Vega's overlap
        # check dropped every other name)
        y=alt.Y(
            "area_label:N",
            sort=area_order,
            title=None,
            axis=alt.Axis(labelLimit=300, labelFontSize=13, labelOverlap=False),
        ),
        tooltip=[
            alt.Tooltip("area_name:N", title="Area"),
            alt.Tooltip("area_code:N", title="Code"),
            alt.Tooltip("indicator_label:N", title="Indicator"),
            alt.Tooltip("value:Q", title="Value", format=",.4~f"),
            alt.Tooltip("sig_label:N", title=f"Compared with {comparator_name}"),
        ],
    )
    rect = (
        base.mark_rect(strokeWidth=0.6)
        .encode(
            color=alt.Color(
                "sig_label:N",
                title=f"Compared with {comparator_name}",
                scale=alt.Scale(
                    domain=[SIGNIFICANCE[k].label for k in present],
                    range=[SIGNIFICANCE[k].colour for k in present],
                ),
                legend=alt.Legend(orient="top", direction="horizontal", columns=5),
            ),
            stroke=alt.Color("outline:N", scale=None),
            opacity=alt.condition(cell, alt.value(1.0), alt.value(0.45)),
        )
        .add_params(cell)
    )
    # The glyph repeats its cell for sighted readers; screen readers get the cell once.
    glyphs = base.mark_text(fontSize=11, aria=False).encode(
        text="glyph:N", color=alt.Color("ink:N", scale=None)
    )
    n_areas, n_inds = len(areas), len(ind_order)
    chart = (
        alt.layer(rect, glyphs, data=wide)
        .properties(width=alt.Step(24), height=alt.Step(18))
        .facet(
            column=alt.Facet(
                "group:N",
                sort=groups,
                title=None,
                # One word a line, so a two-column group's name stays over its own columns.
                header=alt.Header(
                    labelFontSize=13,
                    labelFontWeight="bold",
                    labelAngle=0,
                    labelExpr="split(datum.label, ' ')",
                    labelBaseline="bottom",
                ),
            ),
            spacing=20,
        )
        .transform_fold([f"s_{k}" for k in key.values()], as_=["s_slot", "sig"])
        .transform_filter("isValid(datum.sig)")
        .transform_calculate(
            slot="slice(datum.s_slot, 2)", value="datum['v_' + slice(datum.s_slot, 2)]"
        )
        .transform_lookup(
            lookup="slot",
            from_=alt.LookupData(
                index, "slot", ["indicator", "indicator_label", "domain", "group"]
            ),
        )
        .transform_lookup(
            lookup="sig",
            from_=alt.LookupData(legend, "sig", ["sig_label", "glyph", "ink", "outline"]),
        )
        .resolve_scale(x="independent")
        .properties(
            title=alt.TitleParams(
                f"Tartan rug: {n_areas} areas × {n_inds} indicators compared with "
                f"{comparator_name}",
                subtitle=[
                    f"Each cell compares the area's value with {comparator_name} ({period}); "
                    "glyph and colour say better, similar or worse, polarity applied.",
                    f"Columns grouped by {_group_noun(cells)}. Source: {source}. "
                    f"n = {n_areas} areas, {n_inds} indicators, {len(cells)} cells.",
                ],
            )
        )
    )
    return _finish(chart, finding)


# ── 6. Choropleth / hex map ─────────────────────────────────────────────────────────────────
_GEO_DATASET = "area_shapes"


def choropleth(
    geojson_features: Sequence[Mapping[str, Any]] | Mapping[str, Any],
    values: pd.DataFrame,
    *,
    indicator: Indicator,
    finding: str,
    projection: str = "mercator",
    comparator_name: str = "England",
    period: str = "latest period",
    source: str = _DEFAULT_SOURCE,
) -> alt.LayerChart:
    """Map of areas coloured by significance, with the glyph drawn on each area.

    ``geojson_features``: a FeatureCollection or its features, each with properties.code and
    properties.name. ``values``: area_code, value, sig. ``projection="identity"`` draws planar
    coordinates (the demo hex tile map) with y reflected. Clicking selects ``pick`` on
    area_code.
    """
    if projection not in {"mercator", "identity"}:
        raise InputError(f"projection must be 'mercator' or 'identity'; got {projection!r}.")
    _require(values, ["area_code", "value", "sig"], "map values")
    _need_text(finding, "finding")
    _check_keys(values, "sig", SIGNIFICANCE, "significance")
    features = _features(geojson_features)
    fmt = _value_format(indicator)
    vals = values.loc[:, ["area_code", "value", "sig"]].assign(
        area_code=lambda f: f["area_code"].astype(str)
    )
    legend = _legend_table(SIGNIFICANCE, "sig")
    present = [k for k in SIGNIFICANCE if k in set(vals["sig"])]
    if len(vals) < len(features) and "not compared" not in present:
        present.append("not compared")
    colour = alt.Color(
        "sig_label:N",
        title=f"Compared with {comparator_name}",
        scale=alt.Scale(
            domain=[SIGNIFICANCE[k].label for k in present],
            range=[SIGNIFICANCE[k].colour for k in present],
        ),
    )
    tip = [
        alt.Tooltip("area_name:N", title="Area"),
        alt.Tooltip("area_code:N", title="Code"),
        alt.Tooltip("value:Q", title=f"Value ({indicator.unit})", format=fmt),
        alt.Tooltip("sig_label:N", title=f"Compared with {comparator_name}"),
    ]
    proj = (
        {"type": "identity", "reflectY": True} if projection == "identity" else {"type": projection}
    )
    pick = alt.selection_point(name="pick", fields=["area_code"], on="click")
    shapes = (
        # The shapes by name, attached once at the end: Altair deep-copies inline data on
        # every layer/project/properties call, which for real boundaries costs seconds.
        alt.Chart(alt.Data(name=_GEO_DATASET))
        .transform_calculate(area_code="datum.properties.code", area_name="datum.properties.name")
        .transform_lookup(
            lookup="area_code", from_=alt.LookupData(vals, "area_code", ["value", "sig"])
        )
        .transform_calculate(sig="isValid(datum.sig) ? datum.sig : 'not compared'")
        .transform_lookup(lookup="sig", from_=alt.LookupData(legend, "sig", ["sig_label"]))
        .mark_geoshape(stroke="#4C6272", strokeWidth=0.6)
        .encode(
            color=colour,
            opacity=_opacity_by(pick, 1.0, 0.4),
            tooltip=tip,
        )
        .add_params(pick)
    )
    centres = (
        _centroids(features)
        .merge(vals, on="area_code", how="left")
        .assign(sig=lambda f: f["sig"].fillna("not compared"))
    )
    centres = _styled(centres, "sig", SIGNIFICANCE, "significance")
    glyphs = (
        alt.Chart(centres)
        .mark_text(fontSize=18 if projection == "identity" else 9, aria=False)
        .encode(
            longitude=alt.Longitude("lon:Q"),
            latitude=alt.Latitude("lat:Q"),
            text=alt.Text("sig_glyph:N"),
            color=alt.Color("sig_ink:N", scale=None),
            tooltip=tip,
        )
    )
    n = len(vals)
    chart = (
        alt.layer(shapes, glyphs)
        .project(**proj)
        .properties(
            width=520,
            height=620,
            title=_title(
                indicator,
                [
                    f"Each area compared with {comparator_name}, {period} (95% CI); white "
                    "with ○: not compared or no data.",
                    f"Source: {source}. n = {n:,} areas with values, {len(features):,} on the map.",
                ],
            ),
        )
    )
    chart = _finish(chart, finding)
    chart.datasets = {_GEO_DATASET: list(features)}
    return chart


# ── 7. Small multiples ──────────────────────────────────────────────────────────────────────
def small_multiples(
    points: pd.DataFrame,
    *,
    area_name: str,
    finding: str,
    columns: int = 5,
    source: str = _DEFAULT_SOURCE,
) -> alt.FacetChart:
    """One small XmR chart per indicator (facet wrap, independent y), points by SPC type.

    ``points``: indicator, label, period_end, value, mean, lpl, upl, point_type; optional
    period. Panels follow the order labels first appear in.
    """
    _require(
        points,
        ["indicator", "label", "period_end", "value", "mean", "lpl", "upl", "point_type"],
        "small-multiple points",
    )
    _need_text(finding, "finding")
    if not 4 <= columns <= 6:
        raise InputError(f"columns must be between 4 and 6; got {columns}.")
    shown = _styled(points, "point_type", SPC, "SPC point type").assign(
        panel=lambda f: f["label"].astype(str).map(_wrap)
    )
    order = list(dict.fromkeys(shown["panel"]))
    base = alt.Chart().encode(
        x=alt.X(
            "period_end:T",
            title=None,
            axis=alt.Axis(labelFontSize=13, tickCount={"interval": "year", "step": 1}, format="%Y"),
        )
    )
    layers = [
        *_spc_lines(base, None, None, small=True),
        base.mark_point(filled=True, size=40, stroke=TEXT, strokeWidth=0.4).encode(
            y="value:Q",
            color=_colour(shown, "point_type", SPC, "Variation"),
            shape=_shape(shown, "point_type", SPC),
            tooltip=[
                alt.Tooltip("label:N", title="Indicator"),
                alt.Tooltip("period_end:T", title="Period ending"),
                alt.Tooltip("value:Q", title="Value", format=",.4~f"),
                alt.Tooltip("point_type_label:N", title="Variation"),
            ],
        ),
    ]
    n_ind = len(order)
    chart = (
        alt.layer(*layers, data=shown)
        .properties(width=190, height=110)
        .facet(
            facet=alt.Facet(
                "panel:N",
                sort=order,
                title=None,
                header=alt.Header(
                    labelFontSize=13,
                    labelFontWeight="bold",
                    labelExpr="split(datum.label, '\\n')",
                    labelAnchor="start",
                ),
            ),
            columns=columns,
            spacing={"row": 18, "column": 14},
        )
        .resolve_scale(y="independent")
        .resolve_axis(y="independent")
        .properties(
            title=alt.TitleParams(
                f"{area_name}: {n_ind} indicators over time",
                subtitle=[
                    "XmR charts (NHS England Making Data Count): grey dashed process limits, "
                    "solid mean; each panel has its own vertical scale.",
                    f"Source: {source}. n = {n_ind} indicators, {len(points)} points.",
                ],
            )
        )
    )
    return _finish(chart, finding)


# ── 8. National trend ───────────────────────────────────────────────────────────────────────
def national_trend(
    rows: pd.DataFrame,
    *,
    indicator: Indicator,
    finding: str,
    comparator_name: str = "England",
    ci_method: str = "95% confidence interval",
    source: str = _DEFAULT_SOURCE,
) -> alt.LayerChart:
    """The England value over periods with its 95% CI as a band (explicit y/y2 columns).

    ``rows``: period (label), period_end (date), value, lower_95, upper_95; optional n_areas.
    """
    _require(rows, ["period", "period_end", "value", "lower_95", "upper_95"], "trend rows")
    _need_text(finding, "finding")
    fmt = _value_format(indicator)
    ordered = rows.sort_values("period_end")
    base = alt.Chart(ordered).encode(x=alt.X("period_end:T", title="Period ending"))
    tip = [
        alt.Tooltip("period:N", title="Period"),
        alt.Tooltip("value:Q", title=f"{comparator_name} ({indicator.unit})", format=fmt),
        alt.Tooltip("lower_95:Q", title="95% CI lower", format=fmt),
        alt.Tooltip("upper_95:Q", title="95% CI upper", format=fmt),
    ]
    chart = alt.layer(
        base.mark_area(color=TREND["band"], opacity=0.3).encode(
            y=alt.Y("lower_95:Q", title=_axis_title(indicator), scale=alt.Scale(zero=False)),
            y2="upper_95:Q",
        ),
        base.mark_line(color=TREND["line"], strokeWidth=3).encode(y="value:Q"),
        base.mark_point(color=TREND["line"], filled=True, size=90).encode(y="value:Q", tooltip=tip),
    )
    first, last = ordered["period"].iloc[[0, -1]].astype(str) if len(ordered) else ("", "")
    n_note = (
        f", {int(ordered['n_areas'].iloc[-1])} areas in the latest period"
        if "n_areas" in ordered and len(ordered)
        else ""
    )
    chart = chart.properties(
        width=640,
        height=360,
        title=_title(
            indicator,
            [
                f"{comparator_name} value, {first} to {last}; shaded band: {ci_method}.",
                f"Source: {source}. n = {len(ordered)} periods{n_note}.",
            ],
        ),
    )
    return _finish(chart, finding)


# ── 9. Ratings ──────────────────────────────────────────────────────────────────────────────
def ratings_chart(
    ratings: pd.DataFrame,
    *,
    area_name: str,
    finding: str | None = None,
    year: str = "2016/17",
    source: str = "NHS England CCG IAF ratings",
) -> alt.LayerChart:
    """Clinical priorities (and domains) on the four-point scale, each rating written in words.

    ``ratings``: topic (clinical priority or domain), kind ("Clinical priority"/"Domain"),
    rating (one of :data:`RATING_ORDER`). Rows are drawn in the order given.
    """
    _require(ratings, ["topic", "kind", "rating"], "ratings")
    _check_keys(ratings, "rating", RATINGS, "rating")
    shown = _styled(ratings, "rating", RATINGS, "rating").assign(
        row=lambda f: f["kind"].astype(str) + ": " + f["topic"].astype(str)
    )
    if finding is None:
        finding = f"{area_name} IAF ratings: " + "; ".join(
            f"{t} {r}" for t, r in zip(shown["topic"], shown["rating"], strict=True)
        )
    _need_text(finding, "finding")
    order = list(dict.fromkeys(shown["row"]))
    scale_words = [RATINGS[r].label for r in RATING_ORDER]
    base = alt.Chart(shown).encode(
        y=alt.Y("row:N", sort=order, title=None, axis=alt.Axis(labelLimit=340)),
        x=alt.X(
            "rating_label:N",
            sort=scale_words,
            scale=alt.Scale(domain=scale_words),
            title=None,
            axis=alt.Axis(orient="top", labelAngle=0, labelFontSize=AXIS_FONT),
        ),
        tooltip=[
            alt.Tooltip("topic:N", title="Area of focus"),
            alt.Tooltip("rating:N", title="Rating"),
        ],
    )
    chart = alt.layer(
        base.mark_rect(opacity=0.9, stroke=TEXT, strokeWidth=0.5).encode(
            color=_colour(shown, "rating", RATINGS, "Rating", legend=False)
        ),
        base.mark_text(fontSize=AXIS_FONT, fontWeight="bold").encode(
            text="rating_label:N", color=alt.Color("rating_ink:N", scale=None)
        ),
    ).properties(
        width=alt.Step(230),
        height=alt.Step(36),
        title=alt.TitleParams(
            f"{area_name}: IAF ratings {year}",
            subtitle=[
                "Four-point scale, worst to best: Inadequate, Requires improvement, Good, "
                "Outstanding.",
                f"Source: {source}. n = {len(ratings)} ratings.",
            ],
        ),
    )
    return _finish(chart, finding)


# ── Private helpers ─────────────────────────────────────────────────────────────────────────
def compare_chart(
    rows: pd.DataFrame,
    *,
    area_name: str,
    finding: str,
    source: str = _DEFAULT_SOURCE,
) -> alt.FacetChart:
    """An area beside its peers: one panel per indicator, each area's value with its 95% CI.

    ``rows``: indicator, area_code, area_name, is_focus, value, lower_95, upper_95, and
    ``sig_england`` (the area's 99.8% class against England). The focus area is drawn larger
    and named in the title; panels have their own horizontal scales.
    """
    _require(
        rows,
        ["indicator", "area_code", "area_name", "is_focus", "value", "lower_95", "upper_95"],
        "compare rows",
    )
    _need_text(finding, "finding")
    shown = rows.assign(
        label=rows["indicator"].map(_SHORT_LABELS).fillna(rows["indicator"]),
        who=np.where(rows["is_focus"], area_name, "Peer"),
    )
    base = alt.Chart().encode(
        y=alt.Y(
            "area_name:N",
            title=None,
            sort=alt.SortField("value", order="descending"),
            # every area named: rows tall enough that no label is dropped for overlap
            axis=alt.Axis(labelLimit=190, labelOverlap=False),
        )
    )
    layers = [
        base.mark_rule(color=SUBTLE, strokeWidth=2).encode(x="lower_95:Q", x2="upper_95:Q"),
        base.mark_point(filled=True).encode(
            x=alt.X("value:Q", title=None, scale=alt.Scale(zero=False)),
            color=alt.Color(
                "who:N",
                scale=alt.Scale(domain=[area_name, "Peer"], range=["#005EB8", "#768692"]),
                legend=alt.Legend(title=None),
            ),
            size=alt.condition("datum.is_focus", alt.value(220), alt.value(70)),
            shape=alt.condition("datum.is_focus", alt.value("diamond"), alt.value("circle")),
            tooltip=[
                alt.Tooltip("area_name:N", title="Area"),
                alt.Tooltip("area_code:N", title="Code"),
                alt.Tooltip("value:Q", title="Value", format=",.4~f"),
                alt.Tooltip("lower_95:Q", title="95% CI from", format=",.4~f"),
                alt.Tooltip("upper_95:Q", title="95% CI to", format=",.4~f"),
            ],
        ),
    ]
    n_ind = shown["indicator"].nunique()
    chart = (
        alt.layer(*layers, data=shown)
        .properties(width=360, height=alt.Step(24))
        .facet(
            facet=alt.Facet(
                "label:N",
                title=None,
                header=alt.Header(labelFontSize=14, labelFontWeight="bold", labelAnchor="start"),
            ),
            columns=2,
            spacing={"row": 22, "column": 40},
        )
        .resolve_scale(x="independent", y="independent")
        .properties(
            title=alt.TitleParams(
                f"{area_name} beside its peers",
                subtitle=[
                    "Each area's latest value with its 95% confidence interval (grey line); "
                    f"{area_name} is the blue diamond. Each panel has its own scale.",
                    f"Source: {source}. n = {n_ind} indicators, "
                    f"{shown['area_code'].nunique()} areas.",
                ],
            )
        )
    )
    return _finish(chart, finding)


def _require(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    if not isinstance(frame, pd.DataFrame):
        raise InputError(f"{what} must be a pandas DataFrame; got {type(frame).__name__}.")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InputError(
            f"{what} lack the column(s) {', '.join(missing)}; they have "
            f"{', '.join(map(str, frame.columns)) or 'no columns'}."
        )


def _need_text(value: object, name: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise InputError(
            f"{name} must be a non-empty sentence (it becomes the chart's alt text); got {value!r}."
        )


def _examples(frame: pd.DataFrame, limit: int = 5) -> str:
    cols = [c for c in ("area_code", "indicator", "period") if c in frame]
    rows = frame[cols].astype(str).agg(" ".join, axis=1).head(limit) if cols else frame.index
    return ", ".join(map(str, rows))


def _check_keys(frame: pd.DataFrame, column: str, styles: Mapping[str, Style], what: str) -> None:
    known = frame[column].isin(list(styles))
    if not known.all():
        bad = sorted(set(frame.loc[~known, column].astype(str)))
        raise InputError(
            f"{column} has {int((~known).sum())} row(s) with an unknown {what} label "
            f"({', '.join(map(repr, bad[:5]))}); expected one of {', '.join(styles)}."
        )


def _styled(
    frame: pd.DataFrame, column: str, styles: Mapping[str, Style], what: str
) -> pd.DataFrame:
    """``frame`` plus ``<column>_label`` ("▲ Better"), ``_glyph`` and ``_ink`` display columns."""
    _check_keys(frame, column, styles, what)
    # Every key is known (checked): look each style up by its position, not through a map.
    codes = pd.Categorical(frame[column].astype(object), categories=list(styles)).codes

    def pick(attr: str) -> pd.Series:
        values = np.array([getattr(s, attr) for s in styles.values()], dtype=object)[codes]
        return pd.Series(values, index=frame.index, dtype=object)

    return frame.assign(
        **{
            f"{column}_label": pick("label"),
            f"{column}_glyph": pick("glyph"),
            f"{column}_ink": pick("ink"),
        }
    )


def _legend_table(styles: Mapping[str, Style], key: str) -> pd.DataFrame:
    return pd.DataFrame(
        {
            key: list(styles),
            f"{key}_label": [s.label for s in styles.values()],
            "glyph": [s.glyph for s in styles.values()],
            "ink": [s.ink for s in styles.values()],
            # Cell borders: white between cells, grey round the white "not compared" ones.
            "outline": [s.stroke or WHITE for s in styles.values()],
        }
    )


def _present(frame: pd.DataFrame, column: str, styles: Mapping[str, Style]) -> list[str]:
    seen = {str(v) for v in frame[column].unique()}
    return [k for k in styles if k in seen]


def _colour(
    frame: pd.DataFrame,
    column: str,
    styles: Mapping[str, Style],
    title: str,
    *,
    legend: bool = True,
) -> alt.Color:
    keys = _present(frame, column, styles)
    return alt.Color(
        f"{column}_label:N",
        title=title,
        scale=alt.Scale(
            domain=[styles[k].label for k in keys], range=[styles[k].colour for k in keys]
        ),
        legend=alt.Legend(symbolStrokeColor=TEXT, symbolStrokeWidth=0.8) if legend else None,
    )


def _shape(frame: pd.DataFrame, column: str, styles: Mapping[str, Style]) -> alt.Shape:
    keys = _present(frame, column, styles)
    return alt.Shape(
        f"{column}_label:N",
        scale=alt.Scale(
            domain=[styles[k].label for k in keys], range=[styles[k].shape for k in keys]
        ),
    )


def _stroke(frame: pd.DataFrame, column: str, styles: Mapping[str, Style]) -> alt.Stroke:
    keys = _present(frame, column, styles)
    return alt.Stroke(
        f"{column}_label:N",
        scale=alt.Scale(
            domain=[styles[k].label for k in keys], range=[styles[k].outline for k in keys]
        ),
        legend=None,
    )


def _named(frame: pd.DataFrame) -> pd.DataFrame:
    """Adds ``area_label``: the area name, with the code appended where names repeat."""
    names = frame["area_name"].astype(str)
    codes = frame["area_code"].astype(str)
    # Distinct codes per name, counted once per name (no per-group Python).
    per_name = pd.DataFrame({"n": names, "c": codes}).drop_duplicates().groupby("n").size()
    clash = names.map(per_name).to_numpy() > 1
    labels = np.where(clash, names + " (" + codes + ")", names)
    return frame.assign(area_label=labels.astype(object))


def _polarity_of(rows: pd.DataFrame) -> np.ndarray:
    if "polarity" in rows:
        return rows["polarity"].astype(str).to_numpy()
    known = {i.code: i.polarity for i in CATALOGUE}
    # An indicator outside the catalogue has no stated polarity: draw it lower-on-the-left.
    return rows["indicator"].astype(str).map(known).fillna("no_judgement").to_numpy(dtype=object)


def _opacity_by(param: Any, picked: float, other: float) -> alt.OpacityValue:
    """Opacity by a point selection, as an explicit channel object: a plain ``alt.condition``
    dict (like a shorthand string) is matched against the whole Vega-Lite schema when the
    chart is built, about 10 ms per channel."""
    return alt.OpacityValue(**alt.condition(param, alt.value(picked), alt.value(other)))


def _funnel_judgement(points: pd.DataFrame) -> pd.Series:
    concern = points["concern"].to_numpy(dtype=object, na_value="")
    outlier = points["outlier"].to_numpy(dtype=object, na_value="")
    raw = np.where(outlier != "", outlier + " outlier", "in control")
    return pd.Series(np.where(concern != "", concern, raw), index=points.index, dtype=object)


def _limit_lines(limits: pd.DataFrame) -> pd.DataFrame:
    """The limits grid as one row per point of each of the four limit lines, with its band
    ("95% limits"/"99.8% limits"): folded here rather than by a Vega transform in the browser."""
    lines = limits.melt(
        id_vars="denominator",
        value_vars=list(_LIMIT_COLUMNS),
        var_name="limit",
        value_name="limit_value",
    )
    limit = lines["limit"].astype(object)
    band = np.where(limit.str.contains("998", regex=False), "99.8% limits", "95% limits")
    return lines.assign(limit=limit, band=band.astype(object))


def _funnel_domain(
    points: pd.DataFrame, limits: pd.DataFrame, target: float, indicator: Indicator
) -> list[float]:
    """y range: all points and the centre line, and the limits unless they fly off to infinity."""
    vals = points["value"].dropna().to_numpy(float)
    lo = float(np.nanmin(np.r_[vals, target])) if vals.size else float(target)
    hi = float(np.nanmax(np.r_[vals, target])) if vals.size else float(target)
    span = hi - lo or abs(hi) * 0.1 or 1.0
    lim_lo = np.nanmin(limits["lower_998"].to_numpy(float)) if len(limits) else lo
    lim_hi = np.nanmax(limits["upper_998"].to_numpy(float)) if len(limits) else hi
    lo = max(min(lo - 0.05 * span, lim_lo), lo - span)
    hi = min(max(hi + 0.05 * span, lim_hi), hi + span)
    if indicator.value_type == "proportion":
        lo, hi = max(lo, 0.0), min(hi, float(indicator.multiplier))
    elif indicator.value_type in {"rate", "ratio", "count"}:
        lo = max(lo, 0.0)
    return [lo, hi]


def _highlight(
    base: alt.Chart, selected: str | None, y_field: str, y_scale: alt.Scale
) -> list[alt.Chart]:
    if selected is None:
        return []
    chosen = base.transform_filter(alt.FieldEqualPredicate(field="area_code", equal=selected))
    return [
        chosen.mark_point(size=420, strokeWidth=3, color=TEXT, filled=False).encode(
            x=alt.X("denominator:Q"), y=alt.Y(f"{y_field}:Q", scale=y_scale)
        ),
        chosen.mark_text(
            align="left", dx=14, dy=-12, fontSize=15, fontWeight="bold", color=TEXT
        ).encode(
            x=alt.X("denominator:Q"),
            y=alt.Y(f"{y_field}:Q", scale=y_scale),
            text=alt.Text("area_label:N"),
        ),
    ]


def _spc_lines(
    base: alt.Chart, y_title: str | None, target: float | None, *, small: bool = False
) -> list[alt.Chart]:
    width = 1 if small else 1.6
    y = alt.Y("value:Q", title=y_title, scale=alt.Scale(zero=False))
    return [
        base.mark_line(color="#A6A6A6", strokeWidth=width).encode(y=y),
        base.mark_line(color=SPC_LINES["mean"], strokeWidth=width, interpolate="step-after").encode(
            y="mean:Q"
        ),
        base.mark_line(
            color=SPC_LINES["limit"], strokeDash=[6, 4], strokeWidth=width, interpolate="step-after"
        ).encode(y="lpl:Q"),
        base.mark_line(
            color=SPC_LINES["limit"], strokeDash=[6, 4], strokeWidth=width, interpolate="step-after"
        ).encode(y="upl:Q"),
    ]


def _target_rule(target: float) -> alt.Chart:
    return (
        alt.Chart(pd.DataFrame({"target": [float(target)], "label": ["Target"]}))
        .mark_rule(color=SPC_LINES["target"], strokeDash=[10, 5], strokeWidth=2.5)
        .encode(y="target:Q", tooltip=[alt.Tooltip("target:Q", title="Target")])
    )


def _features(geo: Sequence[Mapping[str, Any]] | Mapping[str, Any]) -> list[dict[str, Any]]:
    feats = geo.get("features") if isinstance(geo, Mapping) else geo
    if feats is None or isinstance(feats, str | bytes):
        raise InputError("geojson_features must be a FeatureCollection or a list of features.")
    out = [dict(f) for f in feats]
    bad = [
        i
        for i, f in enumerate(out)
        if not isinstance(f.get("properties"), Mapping)
        or "code" not in f["properties"]
        or "name" not in f["properties"]
        or not isinstance(f.get("geometry"), Mapping)
    ]
    if bad:
        raise InputError(
            f"{len(bad)} map feature(s) lack a geometry or properties.code/properties.name "
            f"(features {', '.join(map(str, bad[:5]))})."
        )
    return out


def _ring_centroid(ring: np.ndarray) -> tuple[float, float, float]:
    """Area and centroid of one polygon ring (shoelace formula)."""
    x, y = ring[:, 0], ring[:, 1]
    cross = x[:-1] * y[1:] - x[1:] * y[:-1]
    area = cross.sum() / 2
    if abs(area) < 1e-15:
        return 0.0, float(x.mean()), float(y.mean())
    cx = ((x[:-1] + x[1:]) * cross).sum() / (6 * area)
    cy = ((y[:-1] + y[1:]) * cross).sum() / (6 * area)
    return abs(area), float(cx), float(cy)


def _centroids(features: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """Where each area's glyph goes: the centroid of its largest outer ring."""
    rows = []
    for f in features:
        geom = f["geometry"]
        polys = geom["coordinates"] if geom["type"] == "MultiPolygon" else [geom["coordinates"]]
        if geom["type"] not in {"Polygon", "MultiPolygon"}:
            continue
        best = max(
            (_ring_centroid(np.asarray(p[0], dtype=float)[:, :2]) for p in polys if len(p)),
            default=None,
        )
        if best is None:
            continue
        rows.append(
            {
                "area_code": str(f["properties"]["code"]),
                "area_name": str(f["properties"]["name"]),
                "lon": best[1],
                "lat": best[2],
            }
        )
    return pd.DataFrame(rows, columns=["area_code", "area_name", "lon", "lat"])


def _wrap(text: str, width: int = 26) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(text, width)[:3]) or text


def _group_noun(cells: pd.DataFrame) -> str:
    groups = set(cells["group"].astype(str))
    if groups <= set(cells["domain"].astype(str)):
        return "domain"
    return "clinical priority (other indicators by domain)"


def _value_format(indicator: Indicator) -> str:
    return {
        "proportion": ".1f",
        "rate": ",.1f",
        "ratio": ".3f",
        "score": ",.2f",
        "milestone": ".0f",
        "count": ",.0f",
    }.get(indicator.value_type, ",.4~f")


def _format_number(value: float, indicator: Indicator) -> str:
    spec = _value_format(indicator).replace("~", "")
    return format(float(value), spec)


def _plain_number(value: object) -> str:
    if value is None or pd.isna(value):
        return "–"
    return f"{float(value):,.4g}" if abs(float(value)) < 1e4 else f"{float(value):,.0f}"


def _axis_title(indicator: Indicator) -> str:
    return f"{indicator.short_name} ({indicator.unit})"


def _title(indicator: Indicator, subtitle: list[str]) -> alt.TitleParams:
    words = POLARITY_WORDS[indicator.polarity]
    return alt.TitleParams(f"{indicator.label} ({indicator.unit}): {words}", subtitle=subtitle)


def _js_string(text: str) -> str:
    """A Vega expression string literal for text we wrote ourselves (never file content)."""
    import json

    return json.dumps(str(text))


def _house_config() -> alt.Config:
    """Projector-sized fonts and NHS text colours for every chart (built once)."""
    return alt.Config(
        font=FONT,
        axis=alt.AxisConfig(
            labelFontSize=AXIS_FONT,
            titleFontSize=AXIS_FONT + 1,
            labelColor=TEXT,
            titleColor=TEXT,
            gridColor="#E8EDEE",
        ),
        title=alt.TitleConfig(
            fontSize=TITLE_FONT,
            subtitleFontSize=SUBTITLE_FONT,
            color=TEXT,
            subtitleColor=SUBTLE,
            anchor="start",
            offset=12,
        ),
        legend=alt.LegendConfig(
            labelFontSize=AXIS_FONT,
            titleFontSize=AXIS_FONT,
            labelColor=TEXT,
            titleColor=TEXT,
            symbolSize=160,
            labelLimit=360,
            titleLimit=480,
            orient="bottom",
        ),
        header=alt.HeaderConfig(labelFontSize=AXIS_FONT, titleFontSize=AXIS_FONT, labelColor=TEXT),
        view=alt.ViewConfig(strokeWidth=0),
    )


_HOUSE_CONFIG = _house_config()
_HOUSE_PADDING = {"top": 24, "left": 5, "right": 5, "bottom": 5}


def _finish(chart: Any, description: str) -> Any:
    """The house look: description as alt text, projector-sized fonts, NHS text colours.

    Set in place on the chart each builder has just made (one object, not seven copies:
    Altair deep-copies a chart, inline data included, on every ``configure_*`` call).
    """
    chart.description = description
    chart.config = _HOUSE_CONFIG
    # Streamlit fits a chart to its container (autosize "fit"); with a long title over a
    # multi-line subtitle the title's first line was drawn above the canvas, half cut off
    # (seen in screenshots of the funnel and SPC charts). Room at the top keeps it in.
    chart.padding = _HOUSE_PADDING
    return chart
