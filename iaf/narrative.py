"""Plain-English sentences built from the numbers, so the app, exports and packs say the same.

:func:`narrate` describes one area × indicator result; :func:`chart_finding` (and the three
functions it dispatches to) gives the one-sentence finding a chart's alt text needs. Every word
that carries a judgement comes from an input: "significantly" appears only when a ``sig`` label
says better / worse / higher / lower, "special cause" only from an SPC point type, a trend only
from ``trend_direction``.

Numbers are formatted by unit: percentages to 1 dp ("48.2%"), rates with thousands separators
("1,234.6 per 100,000"), ratios to 2 dp, milestones as their label ("Partially achieved").

References
----------
Office for Health Improvement and Disparities. Fingertips benchmarking ("better", "similar",
    "worse" than England at 95% and 99.8%) and trend wording; Public Health Technical Guidance.
NHS England (2019). *Making Data Count*: special cause improvement / concern, common cause.
Spiegelhalter, D. J. (2005). Funnel plots for comparing institutional performance. Statistics in
    Medicine 24, 1185–1202. doi:10.1002/sim.1970 (overdispersion factor phi).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Any, Literal

from iaf.catalogue import MILESTONE_LABELS, POLARITY_WORDS
from iaf.errors import InputError

__all__ = [
    "chart_finding",
    "format_interval",
    "format_value",
    "funnel_finding",
    "narrate",
    "ranked_bar_finding",
    "spc_finding",
]

MINUS = "\u2212"  # a true minus sign: "−3.1 to 2.0" cannot be misread as a range
DASH = "\u2013"  # en dash between the bounds of a range

# unit → (decimal places, template for the value). Units are the catalogue's.
_UNIT_FORMATS: dict[str, tuple[int, str]] = {
    "%": (1, "{}%"),
    "% of estimated prevalence": (1, "{}% of estimated prevalence"),
    "ratio to expected": (2, "{} times the expected rate"),
    "likelihood ratio": (2, "{} (likelihood ratio)"),
    "score (0-100)": (1, "{} out of 100"),
    "average rating (0-10)": (1, "{} out of 10"),
    "index (1-5)": (2, "{} on a 1–5 index"),
    "EQ-5D score": (3, "{} (EQ-5D)"),
    "SII per 100,000": (1, "{} per 100,000 (slope index of inequality)"),
    "items per STAR-PU": (2, "{} items per STAR-PU"),
}
_NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
_SIGNIFICANT = ("better", "worse", "higher", "lower")
_NOT_COMPARED = "not compared"
_SPC_CLAUSES: dict[str, str] = {
    "special_cause_improvement": "the latest point is special cause improvement on the SPC chart",
    "special_cause_concern": "the latest point is special cause concern on the SPC chart",
    "common_cause": "the latest point shows common cause variation only",
}
_NEUTRAL_CLAUSE = (
    "the latest point is special cause variation on the SPC chart (neither direction is better)"
)


# --------------------------------------------------------------------------------------------
# numbers
# --------------------------------------------------------------------------------------------


def _is_number(x: Any) -> bool:
    try:
        return x is not None and math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


def _format(unit: str) -> tuple[int, str]:
    if unit in _UNIT_FORMATS:
        return _UNIT_FORMATS[unit]
    if "ratio" in unit:
        return 2, "{} (" + unit + ")"
    if unit.startswith("%"):
        return 1, "{}" + unit
    return 1, ("{} " + unit) if unit else "{}"


def _number(x: float, decimals: int) -> str:
    text = f"{abs(float(x)):,.{decimals}f}"
    # "-0.0" is not a negative number to a reader.
    return MINUS + text if float(x) < 0 and float(text.replace(",", "")) != 0 else text


def format_value(value: float, unit: str, *, decimals: int | None = None) -> str:
    """A value with its unit: ``48.2%``, ``1,234.6 per 100,000``, ``1.05 times the expected rate``.

    Milestones (unit ``"milestone"``) give their label (0 Not achieved, 1 Partially achieved,
    2 Achieved); a missing value gives ``"no value"``.
    """
    if not _is_number(value):
        return "no value"
    if unit == "milestone":
        whole = float(value).is_integer()
        return (
            MILESTONE_LABELS.get(int(value), f"milestone {value:g}")
            if whole
            else f"milestone {value:g}"
        )
    places, template = _format(unit)
    return template.format(_number(value, places if decimals is None else decimals))


def format_interval(lower: float, upper: float, unit: str, *, decimals: int | None = None) -> str:
    """An interval in the unit's precision: ``45.1–51.3%``, ``1,200.0–1,270.3``, ``−3.1 to 2.0``.

    Percentages keep their ``%``; other units are left to the value the interval belongs to.
    """
    places = _format(unit)[0] if decimals is None else decimals
    lo, hi = _number(lower, places), _number(upper, places)
    joined = f"{lo} to {hi}" if float(lower) < 0 or float(upper) < 0 else f"{lo}{DASH}{hi}"
    return joined + ("%" if unit.startswith("%") else "")


# --------------------------------------------------------------------------------------------
# narrate
# --------------------------------------------------------------------------------------------


def _sig(label: Any) -> str:
    return str(label).strip().lower() if isinstance(label, str) and label.strip() else _NOT_COMPARED


def _count_words(n: int) -> str:
    return _NUMBER_WORDS[n] if 0 <= n < len(_NUMBER_WORDS) else f"{n:,}"


def _period_word(period: str) -> str:
    if re.search(r"\bQ[1-4]\b", period):
        return "quarters"
    if re.fullmatch(r"\d{4}(/\d{2})?", period.strip()):
        return "years"
    return "periods"


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def _comparator_clause(
    comparator_name: str,
    comparator_text: str,
    sig_95: str,
    sig_998: str,
) -> str:
    named = f"{comparator_name} ({comparator_text})" if comparator_text else comparator_name
    if sig_998 in _SIGNIFICANT:
        return f"significantly {sig_998} than {named} at 99.8%"
    if sig_95 in _SIGNIFICANT:
        if sig_998 == "similar":
            return f"significantly {sig_95} than {named} at 95% but not at 99.8%"
        return f"significantly {sig_95} than {named} at 95%"
    if sig_95 == "similar":
        return f"similar to {named} at 95% confidence"
    if sig_998 == "similar":
        return f"similar to {named} at 99.8% confidence"
    if comparator_text:
        return f"{comparator_name}: {comparator_text}, not compared statistically"
    return f"no {comparator_name} value to compare with"


def _peer_clause(peer: Mapping[str, Any], value: float, unit: str) -> str | None:
    name = str(peer.get("name", "")).strip()
    peers = f"{name} peers" if name else "peers"
    rank, n = peer.get("rank"), peer.get("n")
    ranked = f"ranked {int(rank)} of {int(n)}" if _is_number(rank) and _is_number(n) else None
    lo, hi = peer.get("min"), peer.get("max")
    if _is_number(lo) and _is_number(hi):
        position = "within" if lo <= value <= hi else ("above" if value > hi else "below")
        inside = format_interval(lo, hi, unit) + (f", {ranked}" if ranked else "")
        return f"{position} its {peers}' range ({inside})"
    if ranked:
        return f"{ranked} among its {peers}"
    return None


def _trend_clause(direction: str, points: int, word: str) -> str:
    span = f"over {_count_words(points)} {word}"
    text = direction.strip()
    if text.lower() == "no significant change":
        return f"no significant trend {span}"
    if text.lower() == "could not be calculated":
        return "the trend could not be calculated"
    return f"{text} {span}"


def _spc_clause(point_type: str) -> str | None:
    if point_type in _SPC_CLAUSES:
        return _SPC_CLAUSES[point_type]
    if point_type.startswith("special_cause_neutral"):
        return _NEUTRAL_CLAUSE
    return None


def narrate(
    *,
    indicator_name: str,
    polarity_words: str,
    value: float,
    unit: str,
    lower_95: float,
    upper_95: float,
    comparator_name: str = "England",
    comparator_value: float,
    sig_95: str | None,
    sig_998: str | None,
    peer_summary: Mapping[str, Any] | None = None,
    trend_direction: str | None = None,
    trend_points: int = 5,
    spc_point_type: str | None = None,
    suppressed: bool = False,
    period: str = "2020/21 Q4",
    small_number: bool = False,
    value_type: str | None = None,
    quintile: int | None = None,
    period_word: str | None = None,
    with_name: bool = False,
) -> str:
    """One plain-English paragraph for an area × indicator result.

    >>> narrate(indicator_name="Cancer 62-day wait", polarity_words="higher is better",
    ...         value=48.2, unit="%", lower_95=45.1, upper_95=51.3, comparator_value=52.0,
    ...         sig_95="worse", sig_998="worse",
    ...         peer_summary={"name": "similar-10", "min": 44.0, "max": 55.1, "rank": 7, "n": 11},
    ...         trend_direction="no significant change")
    "In 2020/21 Q4, 48.2% (95% CI 45.1–51.3%; higher is better). Significantly worse than \
England (52.0%) at 99.8%; within its similar-10 peers' range (44.0–55.1%, ranked 7 of 11); no \
significant trend over five quarters."

    Parameters beyond the core ones: ``value_type`` ("score" says why there is no confidence
    interval), ``quintile`` (1 = best, reported when given), ``period_word`` (what the trend
    points are; inferred from ``period``: "quarters", "years" or "periods") and ``with_name``
    (start with the indicator's name, for exports read out of context).
    """
    if not isinstance(period, str) or not period.strip():
        raise InputError("narrate: period must be a non-empty label such as '2020/21 Q4'.")
    lead = f"{indicator_name}. " if with_name else ""
    if suppressed:
        return f"{lead}Suppressed for {period} (small numbers): no value is published."
    if not _is_number(value):
        return f"{lead}No value is published for {period}."
    value = float(value)
    s95, s998 = _sig(sig_95), _sig(sig_998)
    no_judgement = polarity_words == POLARITY_WORDS["no_judgement"]

    clauses: list[str] = []
    if unit == "milestone" or value_type == "milestone":
        label = format_value(value, "milestone")
        first = (
            f"In {period}, milestone rating {label} (an assessment, with no confidence interval)."
        )
    else:
        if _is_number(lower_95) and _is_number(upper_95):
            interval = f"95% CI {format_interval(lower_95, upper_95, unit)}"
        elif value_type == "score" or quintile is not None:
            interval = "no confidence interval: a score, compared by quintile"
        else:
            interval = "no confidence interval"
        first = f"In {period}, {format_value(value, unit)} ({interval}; {polarity_words})."
        comparator = format_value(comparator_value, unit) if _is_number(comparator_value) else ""
        clauses.append(_comparator_clause(comparator_name, comparator, s95, s998))
    if quintile is not None and _is_number(quintile):
        best = "" if no_judgement else " (1 = best)"
        clauses.append(f"quintile {int(quintile)} of 5{best}")
    if peer_summary:
        peer = _peer_clause(peer_summary, value, unit)
        if peer:
            clauses.append(peer)
    if trend_direction:
        clauses.append(
            _trend_clause(trend_direction, trend_points, period_word or _period_word(period))
        )
    if spc_point_type:
        spc = _spc_clause(spc_point_type)
        if spc:
            clauses.append(spc)
    text = lead + first
    if clauses:
        text += " " + _capital("; ".join(clauses)) + "."
    if small_number:
        text += " Based on small numbers, so treat with caution."
    return text


# --------------------------------------------------------------------------------------------
# chart findings (alt text)
# --------------------------------------------------------------------------------------------


def _level_text(level: float | str) -> str:
    if isinstance(level, str):
        return {"95": "95%", "998": "99.8%"}.get(
            level, level if level.endswith("%") else level + "%"
        )
    return f"{round(float(level) * 100 if level < 1 else float(level), 6):g}%"


def _prefix(indicator_name: str | None, chart: str) -> str:
    return f"{indicator_name} {chart}: " if indicator_name else ""


def _lie(n: int) -> str:
    return "lies" if n == 1 else "lie"


def funnel_finding(
    *,
    n_areas: int,
    n_high: int,
    n_low: int,
    level: float | str = 0.998,
    phi: float | None = None,
    area_word: str = "CCGs",
    indicator_name: str | None = None,
) -> str:
    """ "3 of 200 CCGs lie above the upper 99.8% limit and 2 below; overdispersion adjusted
    (phi = 4.2)." ``phi`` None means the limits were not adjusted for overdispersion.
    """
    if min(n_areas, n_high, n_low) < 0 or n_high + n_low > n_areas:
        raise InputError(
            f"funnel_finding: counts must satisfy 0 ≤ n_high + n_low ≤ n_areas; got "
            f"{n_high} high, {n_low} low of {n_areas}."
        )
    lvl = _level_text(level)
    if n_high == 0 and n_low == 0:
        body = f"all {n_areas:,} {area_word} lie within the {lvl} limits"
    elif n_high:
        below = f"{n_low:,}" if n_low else "none"
        body = (
            f"{n_high:,} of {n_areas:,} {area_word} {_lie(n_high)} above the upper {lvl} limit "
            f"and {below} below"
        )
    else:
        body = (
            f"{n_low:,} of {n_areas:,} {area_word} {_lie(n_low)} below the lower {lvl} limit "
            "and none above"
        )
    adjust = (
        f"overdispersion adjusted (phi = {phi:.1f})"
        if _is_number(phi)
        else "no overdispersion adjustment"
    )
    text = _prefix(indicator_name, "funnel plot") + f"{body}; {adjust}."
    return _capital(text)


def spc_finding(
    *,
    point_type: str,
    n_consecutive: int = 1,
    n_points: int | None = None,
    period: str | None = None,
    indicator_name: str | None = None,
) -> str:
    """ "Special cause improvement: the last 7 of 24 points are flagged, to 2020/21 Q4."

    ``n_consecutive`` is how many points up to the latest share ``point_type``
    (``outliers.latest_special_cause`` gives it).
    """
    of = f" of {n_points:,}" if n_points else ""
    to = f", to {period}" if period else ""
    latest = f"the latest{of} points" if of else "the latest point"
    if point_type == "common_cause" or not point_type:
        head, body = "Common cause variation only", f"{latest} shows no special cause{to}"
    else:
        if point_type.startswith("special_cause_neutral"):
            head = "Special cause variation (neither direction is better)"
        elif point_type in ("special_cause_improvement", "special_cause_concern"):
            head = "Special cause " + point_type.rsplit("_", 1)[1]
        else:
            raise InputError(f"spc_finding: unknown SPC point type {point_type!r}.")
        if n_consecutive > 1:
            body = f"the last {n_consecutive:,}{of} points are flagged{to}"
        else:
            body = f"{latest} is flagged{to}"
    return _capital(_prefix(indicator_name, "SPC chart") + f"{head}: {body}.")


def ranked_bar_finding(
    *,
    area_name: str,
    rank: int,
    n: int,
    value: float,
    unit: str,
    comparator_name: str = "England",
    comparator_value: float | None = None,
    n_better: int | None = None,
    n_similar: int | None = None,
    n_worse: int | None = None,
    polar: bool = True,
    area_word: str = "CCGs",
    indicator_name: str | None = None,
) -> str:
    """ "NHS Leeds CCG ranks 7 of 200 CCGs at 48.2% (England 52.0%); 12 are significantly better
    than England, 150 similar and 38 significantly worse." The counts come from ``sig`` labels.
    """
    england = (
        f" ({comparator_name} {format_value(comparator_value, unit)})"
        if _is_number(comparator_value)
        else ""
    )
    text = (
        f"{area_name} ranks {int(rank):,} of {int(n):,} {area_word} at "
        f"{format_value(value, unit)}{england}"
    )
    if n_better is not None and n_worse is not None:
        up, down = ("better", "worse") if polar else ("higher", "lower")
        similar = f", {n_similar:,} similar" if n_similar is not None else ""
        text += (
            f"; {n_better:,} {_are(n_better)} significantly {up} than {comparator_name}{similar} "
            f"and {n_worse:,} significantly {down}"
        )
    return _capital(_prefix(indicator_name, "ranked bar chart") + text + ".")


def _are(n: int) -> str:
    return "is" if n == 1 else "are"


_FINDINGS: dict[str, Callable[..., str]] = {
    "funnel": funnel_finding,
    "spc": spc_finding,
    "ranked_bar": ranked_bar_finding,
}


def chart_finding(kind: Literal["funnel", "spc", "ranked_bar"], **details: Any) -> str:
    """The one-sentence finding for a chart's alt text; ``details`` go to the chart's function
    (:func:`funnel_finding`, :func:`spc_finding` or :func:`ranked_bar_finding`)."""
    if kind not in _FINDINGS:
        raise InputError(
            f"chart_finding: kind must be one of {', '.join(_FINDINGS)}, got {kind!r}."
        )
    return _FINDINGS[kind](**details)
