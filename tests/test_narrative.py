"""Narrative sentences: exact expected strings for representative results.

The strings are the product's wording, agreed here once; the app, exports and packs all call
``narrate`` so a change in wording shows up as a failing test rather than as drift.
"""

from __future__ import annotations

import doctest
import itertools
import math

import pytest

import iaf.narrative
from iaf.catalogue import POLARITY_WORDS
from iaf.errors import InputError
from iaf.narrative import (
    chart_finding,
    format_interval,
    format_value,
    funnel_finding,
    narrate,
    ranked_bar_finding,
    spc_finding,
)

NAN = math.nan
BASE = {
    "indicator_name": "Cancer 62-day wait",
    "polarity_words": "higher is better",
    "value": 48.2,
    "unit": "%",
    "lower_95": 45.1,
    "upper_95": 51.3,
    "comparator_value": 52.0,
    "sig_95": "worse",
    "sig_998": "worse",
    "period": "2020/21 Q4",
}
HEAD = "In 2020/21 Q4, 48.2% (95% CI 45.1–51.3%; higher is better)."


def say(**changes) -> str:
    return narrate(**{**BASE, **changes})


def test_the_worked_example() -> None:
    text = say(
        peer_summary={"name": "similar-10", "min": 44.0, "max": 55.1, "rank": 7, "n": 11},
        trend_direction="no significant change",
        trend_points=5,
    )
    assert text == (
        f"{HEAD} Significantly worse than England (52.0%) at 99.8%; within its similar-10 "
        "peers' range (44.0–55.1%, ranked 7 of 11); no significant trend over five quarters."
    )


@pytest.mark.parametrize(
    ("sig_95", "sig_998", "clause"),
    [
        pytest.param(
            "better",
            "better",
            "Significantly better than England (52.0%) at 99.8%.",
            id="better-at-99.8",
        ),
        pytest.param(
            "better",
            "similar",
            "Significantly better than England (52.0%) at 95% but not at 99.8%.",
            id="better-at-95-only",
        ),
        pytest.param(
            "worse",
            "worse",
            "Significantly worse than England (52.0%) at 99.8%.",
            id="worse-at-99.8",
        ),
        pytest.param(
            "worse",
            "similar",
            "Significantly worse than England (52.0%) at 95% but not at 99.8%.",
            id="worse-at-95-only",
        ),
        pytest.param(
            "similar", "similar", "Similar to England (52.0%) at 95% confidence.", id="similar"
        ),
        pytest.param(
            "worse", None, "Significantly worse than England (52.0%) at 95%.", id="95-only-known"
        ),
        pytest.param(
            "not compared",
            "not compared",
            "England: 52.0%, not compared statistically.",
            id="not-compared",
        ),
    ],
)
def test_comparison_with_england(sig_95: str, sig_998: str | None, clause: str) -> None:
    assert say(sig_95=sig_95, sig_998=sig_998) == f"{HEAD} {clause}"


@pytest.mark.parametrize(
    ("sig_95", "sig_998"),
    list(itertools.product(["similar", "not compared", None], repeat=2)),
)
def test_never_says_significant_unless_sig_says_so(sig_95, sig_998) -> None:
    text = say(sig_95=sig_95, sig_998=sig_998, trend_direction="getting better")
    assert "significant" not in text.lower()


@pytest.mark.parametrize(
    ("sig_95", "sig_998", "clause"),
    [
        ("higher", "higher", "Significantly higher than England (160.0 per 50,000) at 99.8%."),
        (
            "lower",
            "similar",
            "Significantly lower than England (160.0 per 50,000) at 95% but not at 99.8%.",
        ),
        ("similar", "similar", "Similar to England (160.0 per 50,000) at 95% confidence."),
    ],
    ids=["higher-99.8", "lower-95-only", "similar"],
)
def test_no_judgement_indicator_says_higher_or_lower(sig_95, sig_998, clause) -> None:
    text = narrate(
        indicator_name="Continuing Healthcare",
        polarity_words=POLARITY_WORDS["no_judgement"],
        value=182.345,
        unit="per 50,000",
        lower_95=170.1,
        upper_95=195.0,
        comparator_value=160.0,
        sig_95=sig_95,
        sig_998=sig_998,
        period="2020/21 Q4",
    )
    assert text == (
        "In 2020/21 Q4, 182.3 per 50,000 (95% CI 170.1–195.0; no judgement: neither higher nor "
        f"lower is better). {clause}"
    )
    assert "better than" not in text and "worse" not in text


def test_suppressed() -> None:
    assert say(suppressed=True, value=NAN) == (
        "Suppressed for 2020/21 Q4 (small numbers): no value is published."
    )
    assert say(suppressed=True, with_name=True).startswith("Cancer 62-day wait. Suppressed for")


def test_missing_value_that_is_not_suppressed() -> None:
    assert say(value=NAN) == "No value is published for 2020/21 Q4."


@pytest.mark.parametrize(
    ("value", "label"), [(0, "Not achieved"), (1, "Partially achieved"), (2, "Achieved")]
)
def test_milestone(value: int, label: str) -> None:
    text = narrate(
        indicator_name="Financial plan",
        polarity_words="higher is better",
        value=value,
        unit="milestone",
        lower_95=NAN,
        upper_95=NAN,
        comparator_value=NAN,
        sig_95="not compared",
        sig_998="not compared",
        period="2016/17",
    )
    assert (
        text
        == f"In 2016/17, milestone rating {label} (an assessment, with no confidence interval)."
    )


def test_nan_comparator() -> None:
    assert say(comparator_value=NAN, sig_95="not compared", sig_998="not compared") == (
        f"{HEAD} No England value to compare with."
    )
    assert say(comparator_value=NAN) == f"{HEAD} Significantly worse than England at 99.8%."
    assert (
        say(
            comparator_value=None, comparator_name="the region", sig_95="similar", sig_998="similar"
        )
        == f"{HEAD} Similar to the region at 95% confidence."
    )


def test_score_without_a_confidence_interval_is_compared_by_quintile() -> None:
    text = narrate(
        indicator_name="Maternity experience",
        polarity_words="higher is better",
        value=72.44,
        unit="score (0-100)",
        lower_95=NAN,
        upper_95=NAN,
        comparator_value=70.1,
        sig_95="not compared",
        sig_998="not compared",
        period="2016/17",
        value_type="score",
        quintile=2,
    )
    assert text == (
        "In 2016/17, 72.4 out of 100 (no confidence interval: a score, compared by quintile; "
        "higher is better). England: 70.1 out of 100, not compared statistically; quintile 2 "
        "of 5 (1 = best)."
    )


def test_rate_uses_thousands_separators() -> None:
    text = say(
        polarity_words="lower is better",
        value=1234.56,
        unit="per 100,000",
        lower_95=1200.04,
        upper_95=1270.3,
        comparator_value=1100,
    )
    assert text == (
        "In 2020/21 Q4, 1,234.6 per 100,000 (95% CI 1,200.0–1,270.3; lower is better). "
        "Significantly worse than England (1,100.0 per 100,000) at 99.8%."
    )


def test_ratio_to_two_decimals_and_trend_over_years() -> None:
    text = say(
        polarity_words="lower is better",
        value=1.054,
        unit="ratio to expected",
        lower_95=0.981,
        upper_95=1.132,
        comparator_value=1.0,
        sig_95="similar",
        sig_998="similar",
        period="2019/20",
        trend_direction="getting better",
    )
    assert text == (
        "In 2019/20, 1.05 times the expected rate (95% CI 0.98–1.13; lower is better). Similar "
        "to England (1.00 times the expected rate) at 95% confidence; getting better over five "
        "years."
    )


def test_trend_spc_peers_and_small_numbers() -> None:
    text = say(
        sig_95="similar",
        sig_998="similar",
        peer_summary={"name": "similar 10", "min": 30.0, "max": 45.5},
        trend_direction="could not be calculated",
        spc_point_type="special_cause_concern",
        small_number=True,
    )
    assert text == (
        f"{HEAD} Similar to England (52.0%) at 95% confidence; above its similar 10 peers' "
        "range (30.0–45.5%); the trend could not be calculated; the latest point is special "
        "cause concern on the SPC chart. Based on small numbers, so treat with caution."
    )


def test_peer_rank_without_range_and_common_cause() -> None:
    text = say(
        sig_95="similar",
        sig_998="similar",
        peer_summary={"name": "CIPFA", "rank": 3, "n": 16},
        spc_point_type="common_cause",
        trend_points=12,
        trend_direction="no significant change",
    )
    assert text.endswith(
        "ranked 3 of 16 among its CIPFA peers; no significant trend over 12 quarters; the "
        "latest point shows common cause variation only."
    )


def test_with_name_leads_with_the_indicator() -> None:
    assert say(with_name=True) == (
        f"Cancer 62-day wait. {HEAD} Significantly worse than England (52.0%) at 99.8%."
    )


def test_period_is_required() -> None:
    with pytest.raises(InputError, match="period"):
        say(period="")


@pytest.mark.parametrize(
    ("value", "unit", "expected"),
    [
        (48.25, "%", "48.2%"),  # an exact binary tie rounds half to even, as R's sprintf does
        (67.349, "% of estimated prevalence", "67.3% of estimated prevalence"),
        (1234567.891, "per 1,000,000 adults", "1,234,567.9 per 1,000,000 adults"),
        (1.0, "ratio to expected", "1.00 times the expected rate"),
        (1.456, "likelihood ratio", "1.46 (likelihood ratio)"),
        (0.8123, "EQ-5D score", "0.812 (EQ-5D)"),
        (-3.14, "SII per 100,000", "−3.1 per 100,000 (slope index of inequality)"),
        (-0.04, "%", "0.0%"),
        (2, "milestone", "Achieved"),
        (1.5, "milestone", "milestone 1.5"),
        (NAN, "%", "no value"),
        (5.0, "", "5.0"),
    ],
)
def test_format_value(value: float, unit: str, expected: str) -> None:
    assert format_value(value, unit) == expected


def test_format_interval() -> None:
    assert format_interval(45.1, 51.3, "%") == "45.1–51.3%"
    assert format_interval(-3.14, 2.0, "SII per 100,000") == "−3.1 to 2.0"
    assert format_interval(1200.04, 1270.3, "per 100,000") == "1,200.0–1,270.3"


# ── chart findings ─────────────────────────────────────────────────────────────────────────


def test_funnel_finding() -> None:
    assert funnel_finding(n_areas=200, n_high=3, n_low=2, phi=4.2) == (
        "3 of 200 CCGs lie above the upper 99.8% limit and 2 below; overdispersion adjusted "
        "(phi = 4.2)."
    )
    assert funnel_finding(n_areas=200, n_high=1, n_low=0, level="95") == (
        "1 of 200 CCGs lies above the upper 95% limit and none below; no overdispersion adjustment."
    )
    assert funnel_finding(n_areas=200, n_high=0, n_low=4) == (
        "4 of 200 CCGs lie below the lower 99.8% limit and none above; no overdispersion "
        "adjustment."
    )
    assert funnel_finding(
        n_areas=6500, n_high=0, n_low=0, area_word="practices", indicator_name="A&E 4 hours"
    ) == (
        "A&E 4 hours funnel plot: all 6,500 practices lie within the 99.8% limits; no "
        "overdispersion adjustment."
    )
    with pytest.raises(InputError):
        funnel_finding(n_areas=2, n_high=2, n_low=1)


def test_spc_finding() -> None:
    assert (
        spc_finding(
            point_type="special_cause_improvement",
            n_consecutive=7,
            n_points=24,
            period="2020/21 Q4",
        )
        == "Special cause improvement: the last 7 of 24 points are flagged, to 2020/21 Q4."
    )
    assert spc_finding(point_type="special_cause_concern") == (
        "Special cause concern: the latest point is flagged."
    )
    assert spc_finding(point_type="common_cause", n_points=24) == (
        "Common cause variation only: the latest of 24 points shows no special cause."
    )
    assert spc_finding(point_type="special_cause_neutral_high", n_consecutive=2) == (
        "Special cause variation (neither direction is better): the last 2 points are flagged."
    )
    with pytest.raises(InputError):
        spc_finding(point_type="special")


def test_ranked_bar_finding() -> None:
    assert ranked_bar_finding(
        area_name="NHS Leeds CCG",
        rank=7,
        n=200,
        value=48.2,
        unit="%",
        comparator_value=52.0,
        n_better=12,
        n_similar=150,
        n_worse=38,
    ) == (
        "NHS Leeds CCG ranks 7 of 200 CCGs at 48.2% (England 52.0%); 12 are significantly "
        "better than England, 150 similar and 38 significantly worse."
    )
    assert (
        ranked_bar_finding(
            area_name="X",
            rank=1,
            n=5,
            value=3,
            unit="per 50,000",
            n_better=1,
            n_worse=0,
            polar=False,
        )
        == "X ranks 1 of 5 CCGs at 3.0 per 50,000; 1 is significantly higher than England and "
        "0 significantly lower."
    )


def test_chart_finding_dispatches_by_kind() -> None:
    assert chart_finding("funnel", n_areas=200, n_high=3, n_low=2, phi=4.2) == funnel_finding(
        n_areas=200, n_high=3, n_low=2, phi=4.2
    )
    assert chart_finding("spc", point_type="common_cause").startswith("Common cause")
    with pytest.raises(InputError, match="kind must be one of"):
        chart_finding("pie")


def test_docstring_examples_run() -> None:
    assert doctest.testmod(iaf.narrative).failed == 0
