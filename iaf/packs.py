"""Area packs for meetings: PowerPoint and PDF, one slide per chart, built offline.

Each slide carries the chart, its title, the one-sentence finding (the same narrative the app
shows), the source, the data date and the method note. The pack's data travel as CSV beside it
(``pack_csv``). Charts are rendered to PNG by vl-convert; no network, no browser.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date

import altair as alt

from iaf import charts, exports, views
from iaf.analysis import Analysis
from iaf.model import Dataset

METHOD_SPINE = (
    "Each indicator's latest value against England by the Fingertips method (the area's "
    "95%/99.8% confidence interval against England's value); bars show the range and "
    "interquartile range of all areas."
)
METHOD_FUNNEL = (
    "Funnel plot (Spiegelhalter 2005, as FunnelPlotR 0.6.0): 95% and 99.8% limits around the "
    "England value, adjusted for overdispersion when present."
)
METHOD_SPC = (
    "XmR chart with NHS England Making Data Count rules (as NHSRplotthedots 0.2.2): mean, "
    "limits at ±2.66 × mean moving range."
)
MAX_FLAGGED = 4


@dataclass(frozen=True)
class Slide:
    title: str
    chart: alt.TopLevelMixin
    finding: str
    method: str
    period: str


def _slides(ds: Dataset, result: Analysis, area: str, period: str | None) -> list[Slide]:
    rows = views.profile(ds, result, area=area, period=period)
    if rows.empty:
        return []
    name = ds.areas.set_index("code")["name"].get(area, area)
    label = rows.attrs.get("period", period or "")
    slides = []
    spine_rows = rows.loc[rows["value"].notna() & rows["england"].notna()]
    if not spine_rows.empty:
        finding = (
            f"{name}: {(rows['sig'] == 'worse').sum()} indicators significantly worse and "
            f"{(rows['sig'] == 'better').sum()} better than England at 99.8%."
        )
        slides.append(
            Slide(
                f"{name}: every indicator against England",
                charts.spine_chart(spine_rows, area_name=name, finding=finding, period=label),
                finding,
                METHOD_SPINE,
                label,
            )
        )
    flagged = rows.loc[
        (rows["funnel_concern"] == "concern") | (rows["spc_point_type"] == "special_cause_concern")
    ].head(MAX_FLAGGED)
    for _, r in flagged.iterrows():
        ind = ds.indicator(r["indicator"])
        fv = views.funnel_view(ds, result, indicator=ind.code, period=r["period"])
        if "reason" not in fv:
            adj = f"phi = {fv['phi']:.2f}" + (", adjusted" if fv["adjusted"] else ", unadjusted")
            chart = charts.funnel_chart(
                fv["points"],
                fv["limits"],
                indicator=ind,
                target=fv["target"],
                finding=fv["finding"],
                period=r["period"],
                comparator_note="target = England",
                adjusted_note=adj,
                selected=area,
            )
            slides.append(
                Slide(
                    f"{ind.code} {ind.short_name}: {name} among all areas",
                    chart,
                    r["narrative"],
                    METHOD_FUNNEL,
                    r["period"],
                )
            )
        sv = views.spc_view(ds, result, area=area, indicator=ind.code)
        if "reason" not in sv:
            chart = charts.spc_chart(
                sv["points"], indicator=ind, finding=sv["finding"], area_name=name
            )
            slides.append(
                Slide(
                    f"{ind.code} {ind.short_name}: {name} over time",
                    chart,
                    sv["finding"],
                    METHOD_SPC,
                    r["period"],
                )
            )
    return slides


def _footer(ds: Dataset, slide: Slide) -> str:
    source = "Synthetic demo data (fictional)" if ds.synthetic else (ds.source or ds.name)
    return (
        f"Source: {source}. Data to {slide.period}. Method: {slide.method} "
        f"Produced by IAF Explorer on {date.today():%d %B %Y}."
    )


def pack_csv(ds: Dataset, result: Analysis, *, area: str, period: str | None) -> bytes:
    """The numbers behind the pack, safe to open in a spreadsheet."""
    rows = views.profile(ds, result, area=area, period=period)
    return exports.to_csv_bytes(rows.drop(columns=["label"], errors="ignore"))


def area_pack_pptx(ds: Dataset, result: Analysis, *, area: str, period: str | None) -> bytes:
    """A 16:9 PowerPoint pack: a title slide, then one slide per chart."""
    from pptx import Presentation
    from pptx.util import Inches, Pt

    prs = Presentation()
    prs.slide_width, prs.slide_height = Inches(13.333), Inches(7.5)
    name = ds.areas.set_index("code")["name"].get(area, area)
    slides = _slides(ds, result, area, period)
    title_slide = prs.slides.add_slide(prs.slide_layouts[0])
    title_slide.shapes.title.text = f"{name} ({area})"
    title_slide.placeholders[1].text = "CCG Improvement and Assessment Framework: area pack" + (
        " — SYNTHETIC DEMO DATA, fictional areas" if ds.synthetic else ""
    )
    blank = prs.slide_layouts[6]
    for s in slides:
        slide = prs.slides.add_slide(blank)
        box = slide.shapes.add_textbox(Inches(0.4), Inches(0.2), Inches(12.5), Inches(0.8))
        box.text_frame.text = s.title
        box.text_frame.paragraphs[0].font.size = Pt(26)
        box.text_frame.paragraphs[0].font.bold = True
        png = exports.chart_png(s.chart, scale=2)
        slide.shapes.add_picture(io.BytesIO(png), Inches(0.4), Inches(1.0), height=Inches(5.0))
        text = slide.shapes.add_textbox(Inches(0.4), Inches(6.1), Inches(12.5), Inches(1.3))
        tf = text.text_frame
        tf.word_wrap = True
        tf.text = s.finding
        tf.paragraphs[0].font.size = Pt(16)
        p = tf.add_paragraph()
        p.text = _footer(ds, s)
        p.font.size = Pt(10)
    buf = io.BytesIO()
    prs.save(buf)
    return buf.getvalue()


_LATIN1 = str.maketrans(
    {
        "≥": ">=",
        "≤": "<=",
        "²": "2",
        "–": "-",
        "—": "-",
        "’": "'",
        "“": '"',
        "”": '"',
        "×": "x",
        "±": "+/-",
        "φ": "phi",
        "τ": "tau",
        "σ": "sigma",
        "…": "...",
        "▲": "",
        "▼": "",
        "●": "",
    }
)


def _pdf_text(text: str) -> str:
    """Core PDF fonts are Latin-1: spell out the few symbols our sentences use."""
    return text.translate(_LATIN1).encode("latin-1", "replace").decode("latin-1")


def area_pack_pdf(ds: Dataset, result: Analysis, *, area: str, period: str | None) -> bytes:
    """A landscape A4 PDF pack with the same pages as the PowerPoint."""
    from fpdf import FPDF

    name = ds.areas.set_index("code")["name"].get(area, area)
    pdf = FPDF(orientation="landscape", format="A4")
    pdf.set_auto_page_break(auto=False)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 28)
    pdf.cell(0, 30, _pdf_text(f"{name} ({area})"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 16)
    pdf.multi_cell(
        0,
        9,
        _pdf_text(
            "CCG Improvement and Assessment Framework: area pack"
            + (". SYNTHETIC DEMO DATA: fictional areas, not real NHS data." if ds.synthetic else "")
        ),
    )
    for s in _slides(ds, result, area, period):
        pdf.add_page()
        pdf.set_font("Helvetica", "B", 18)
        pdf.multi_cell(0, 9, _pdf_text(s.title))
        png = exports.chart_png(s.chart, scale=2)
        pdf.image(io.BytesIO(png), x=10, y=25, h=130)
        pdf.set_xy(10, 160)
        pdf.set_font("Helvetica", "", 12)
        pdf.multi_cell(0, 6, _pdf_text(s.finding))
        pdf.set_font("Helvetica", "", 8)
        pdf.multi_cell(0, 4, _pdf_text(_footer(ds, s)))
    return bytes(pdf.output())
