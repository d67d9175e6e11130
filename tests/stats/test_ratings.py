"""Ratings of clinical priorities and domains: hand-built results whose rating is obvious.

The expected ratings follow from the documented default rules (RatingRules()): 3 / 2 / 1 for
significantly better / similar / worse at 99.8%, mean score, cut points 2.5 / 2.0 / 1.5, and at
least half of a group's indicators scored. No oracle exists (NHS England publishes no formula),
so every expectation here is worked by hand in the test's comment or parameter id.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from iaf import catalogue
from iaf.errors import InputError
from iaf.stats.ratings import RATINGS, RatingRules, rate, rating_details, score_indicators

CANCER = ("122a", "122b", "122c", "122d")  # 122d is a score (no CI): compared by quintile
SIG_FOR_SCORE = {3: "better", 2: "similar", 1: "worse"}


def row(
    indicator: str,
    area: str = "A",
    sig: str | None = "similar",
    *,
    sig_95: str | None = None,
    value: float = 50.0,
    quintile: int | None = None,
    suppressed: bool = False,
    period: str = "2020/21 Q4",
    end: str = "2021-03-31",
) -> dict:
    ind = catalogue.by_code(indicator)
    return {
        "indicator": indicator,
        "area_code": area,
        "period": period,
        "period_end": pd.Timestamp(end),
        "value": np.nan if suppressed else value,
        "lower_95": np.nan,
        "upper_95": np.nan,
        "lower_998": np.nan,
        "upper_998": np.nan,
        "suppressed": suppressed,
        "value_type": ind.value_type,
        "polarity": ind.polarity,
        "sig_95": sig if sig_95 is None else sig_95,
        "sig_998": sig,
        "quintile": quintile,
    }


def frame(rows: list[dict]) -> pd.DataFrame:
    out = pd.DataFrame(rows)
    return out.assign(quintile=out["quintile"].astype("Int64"))


def cancer(scores: list[int], area: str = "A") -> list[dict]:
    """Cancer results scoring exactly ``scores`` (122d via its quintile)."""
    rows = [row(code, area, SIG_FOR_SCORE[s]) for code, s in zip(CANCER[:3], scores, strict=False)]
    if len(scores) == 4:
        quintile = {3: 1, 2: 3, 1: 5}[scores[3]]
        rows.append(row("122d", area, "not compared", quintile=quintile))
    return rows


def one(ratings: pd.DataFrame, group: str, area: str = "A") -> pd.Series:
    return ratings.loc[(ratings["group"] == group) & (ratings["area_code"] == area)].iloc[0]


@pytest.mark.parametrize(
    ("scores", "expected", "score"),
    [
        pytest.param([3, 3, 3, 3], "Outstanding", 3.0, id="all-better-3.0"),
        pytest.param([3, 3, 2, 2], "Outstanding", 2.5, id="exactly-2.5-outstanding"),
        pytest.param([3, 2, 2, 2], "Good", 2.25, id="2.25-good"),
        pytest.param([2, 2, 2, 2], "Good", 2.0, id="exactly-2.0-good"),
        pytest.param([3, 1, 1, 2], "Requires improvement", 1.75, id="1.75-ri"),
        pytest.param([2, 2, 1, 1], "Requires improvement", 1.5, id="exactly-1.5-ri"),
        pytest.param([2, 1, 1, 1], "Inadequate", 1.25, id="1.25-inadequate"),
        pytest.param([1, 1, 1, 1], "Inadequate", 1.0, id="all-worse-1.0"),
    ],
)
def test_rating_at_each_cut_point(scores: list[int], expected: str, score: float) -> None:
    got = one(rate(frame(cancer(scores))), "Cancer")
    assert got["rating"] == expected
    assert got["score"] == score
    assert (got["n_scored"], got["n_indicators"]) == (4, 4)


def test_two_indicator_group_exactly_at_outstanding() -> None:
    # Diabetes has two indicators: (3 + 2) / 2 = 2.5, which is Outstanding (cut points inclusive).
    got = one(rate(frame([row("103a", sig="better"), row("103b", sig="similar")])), "Diabetes")
    assert (got["rating"], got["score"]) == ("Outstanding", 2.5)


def test_just_below_outstanding_is_good() -> None:
    # Mental health: 3 + 3 + 2 + 2 + 2 = 12 over 5 = 2.4 < 2.5.
    rows = [
        row("123a", sig="better"),
        row("123b", sig="better"),
        row("123c", sig="not compared", value=1),  # Partially achieved → 2
        row("123d", sig="not compared", value=1),
        row("123e", sig="not compared", value=1),
    ]
    got = one(rate(frame(rows)), "Mental health")
    assert got["rating"] == "Good"
    assert got["score"] == pytest.approx(2.4, abs=1e-12)


def test_not_rated_when_too_few_indicators_have_data() -> None:
    rows = [row("122a", sig="better"), row("122b", sig=None, suppressed=True)]
    got = one(rate(frame(rows)), "Cancer")
    assert got["rating"] == "Not rated"
    assert np.isnan(got["score"])
    assert (got["n_scored"], got["n_indicators"]) == (1, 4)
    assert got["explanation"].startswith("Not rated: too few indicators with data (1 of 4)")
    assert "suppressed" in got["explanation"]


def test_half_the_indicators_is_enough() -> None:
    # 2 of 4 scored meets the default minimum share of one half.
    got = one(rate(frame([row("122a", sig="better"), row("122b", sig="similar")])), "Cancer")
    assert (got["rating"], got["score"], got["n_scored"]) == ("Outstanding", 2.5, 2)


def test_min_share_is_configurable() -> None:
    rows = frame([row("122a", sig="better"), row("122b", sig="similar")])
    got = one(rate(rows, RatingRules(min_share=0.75)), "Cancer")
    assert got["rating"] == "Not rated"
    assert "(2 of 4)" in got["explanation"] and "(3 of 4)" in got["explanation"]


def test_area_without_any_rows_for_a_group_is_not_rated() -> None:
    got = one(rate(frame(cancer([3, 3, 3, 3]))), "Maternity")
    assert (got["rating"], got["n_scored"], got["n_indicators"]) == ("Not rated", 0, 3)


def test_explanation_names_every_indicator_its_score_and_the_cut_points() -> None:
    got = one(rate(frame(cancer([3, 2, 1, 3]))), "Cancer")
    text = got["explanation"]
    for code in CANCER:
        assert code in text
    assert "Cancer is rated Good" in text and "2.25" in text
    assert "122a Cancers diagnosed early (2020/21 Q4) scored 3: significantly better" in text
    assert "122c One-year cancer survival (2020/21 Q4) scored 1: significantly worse" in text
    assert "quintile 1 of 5, the top" in text
    assert "Outstanding ≥ 2.5, Good ≥ 2.0, Requires improvement ≥ 1.5, otherwise Inadequate" in text


def test_lower_is_better_uses_the_polarity_aware_sig_label() -> None:
    # 125a (lower is better): "better" means significantly lower than England; it scores 3.
    rows = [
        row("125a", sig="better", value=2.1),
        row("125b", sig="better", quintile=None),
        row("125c", sig="not compared", quintile=5),
    ]
    details = rating_details(frame(rows), "A", "Maternity").set_index("indicator")
    assert catalogue.by_code("125a").polarity == "lower_is_better"
    assert details.loc["125a", "score"] == 3
    assert details.loc["125c", "score"] == 1
    assert one(rate(frame(rows)), "Maternity")["score"] == pytest.approx(7 / 3, abs=1e-12)


def test_no_judgement_indicator_is_excluded_from_the_domain() -> None:
    # 131a is no_judgement: its "higher" is never scored and it is not counted as an indicator.
    rows = frame([row("131a", sig="higher"), row("127c", sig="worse")])
    got = one(rate(rows, by="domain"), "Better Care")
    n_better_care = sum(
        ind.polarity != "no_judgement" for ind in catalogue.indicators_where(domain="Better Care")
    )
    assert got["n_indicators"] == n_better_care == 29
    assert got["n_scored"] == 1
    details = rating_details(rows, "A", "Better Care").set_index("indicator")
    assert details.loc["131a", "result"] == "not judged"
    assert np.isnan(details.loc["131a", "score"])


def test_polar_indicator_with_neutral_sig_label_is_rejected() -> None:
    with pytest.raises(InputError, match=r"sig_998.*122a A 2020/21 Q4"):
        rate(frame([row("122a", sig="higher")]))


@pytest.mark.parametrize(
    ("level", "expected"), [("998", "Good"), ("95", "Inadequate")], ids=["99.8%", "95%"]
)
def test_significance_level_is_configurable(level: str, expected: str) -> None:
    # Worse at 95% but similar at 99.8% for both diabetes indicators.
    rows = [row(code, sig="similar", sig_95="worse") for code in ("103a", "103b")]
    got = one(rate(frame(rows), RatingRules(level=level)), "Diabetes")
    assert got["rating"] == expected
    assert ("at 95%" if level == "95" else "at 99.8%") in got["explanation"]


@pytest.mark.parametrize(("value", "score"), [(2, 3), (1, 2), (0, 1)])
def test_milestones_score_achieved_partial_not_achieved(value: int, score: int) -> None:
    details = rating_details(
        frame([row("123c", sig="not compared", value=value)]), "A", "Mental health"
    ).set_index("indicator")
    assert details.loc["123c", "score"] == score
    assert details.loc["123c", "result"] == catalogue.MILESTONE_LABELS[value]


@pytest.mark.parametrize(("quintile", "score"), [(1, 3), (2, 2), (3, 2), (4, 2), (5, 1)])
def test_quintiles_for_indicators_without_a_confidence_interval(quintile: int, score: int) -> None:
    rows = frame([row("122d", sig="not compared", quintile=quintile)])
    assert rating_details(rows, "A", "Cancer").set_index("indicator").loc["122d", "score"] == score


def test_latest_period_of_each_indicator_is_used() -> None:
    old = [row(code, sig="worse", period="2020/21 Q3", end="2020-12-31") for code in CANCER[:2]]
    new = [row(code, sig="better") for code in CANCER[:2]]
    results = frame([*old, *new])
    assert one(rate(results), "Cancer")["rating"] == "Outstanding"
    assert one(rate(results, as_of="2020-12-31"), "Cancer")["rating"] == "Inadequate"


def test_area_missing_the_latest_period_is_not_given_stale_data() -> None:
    # B has only last quarter's 122a; the indicator's latest period is this quarter.
    rows = [*cancer([3, 3]), row("122a", "B", "better", period="2020/21 Q3", end="2020-12-31")]
    details = rating_details(frame(rows), "B", "Cancer").set_index("indicator")
    assert details.loc["122a", "result"] == "no result"
    assert details.loc["122a", "reason"] == "no result for 2020/21 Q4"


def test_one_row_per_area_and_group_in_framework_order() -> None:
    results = frame(cancer([3, 3, 3, 3], "A") + cancer([1, 1, 1, 1], "B"))
    by_priority = rate(results)
    assert list(by_priority["group"].astype(str)) == list(catalogue.CLINICAL_PRIORITIES) * 2
    assert list(by_priority["area_code"]) == ["A"] * 6 + ["B"] * 6
    assert list(rate(results, by="domain")["group"].astype(str)) == list(catalogue.DOMAINS) * 2
    assert list(by_priority["rating"].cat.categories) == [*RATINGS, "Not rated"]


def test_rating_details_lists_the_group_in_annex_a_order() -> None:
    details = rating_details(frame(cancer([3, 2, 1, 2])), "A", "Cancer")
    assert list(details.columns) == ["indicator", "name", "period", "result", "score", "reason"]
    assert list(details["indicator"]) == list(CANCER)
    assert list(details["score"]) == [3, 2, 1, 2]
    assert list(details["result"]) == ["better", "similar", "worse", "quintile 3"]


def test_custom_cut_points_and_scores() -> None:
    rules = RatingRules(better=4, outstanding=3.5, good=2.5, requires_improvement=1.5)
    got = one(rate(frame(cancer([3, 3, 2, 2])), rules), "Cancer")  # (4 + 4 + 2 + 2) / 4 = 3
    assert (got["rating"], got["score"]) == ("Good", 3.0)
    assert "Outstanding ≥ 3.5, Good ≥ 2.5" in got["explanation"]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"level": "99"},
        {"outstanding": 2.0, "good": 2.5},
        {"min_share": 0},
        {"top_quintiles": (1, 5)},
    ],
    ids=["bad-level", "cuts-increase", "zero-share", "quintile-both-ends"],
)
def test_rules_are_validated(kwargs: dict) -> None:
    with pytest.raises(InputError):
        RatingRules(**kwargs)


def test_missing_column_and_duplicate_rows_are_reported() -> None:
    with pytest.raises(InputError, match="'quintile'"):
        rate(frame(cancer([3, 3])).drop(columns="quintile"))
    with pytest.raises(InputError, match=r"2 rows repeat.*122a A 2020/21 Q4"):
        rate(frame([row("122a"), row("122a")]))
    with pytest.raises(InputError, match="by must be"):
        rate(frame(cancer([3, 3])), by="area")
    with pytest.raises(InputError, match="neither a clinical priority nor a domain"):
        rating_details(frame(cancer([3, 3])), "A", "Oncology")


def test_property_ratings_agree_with_scores_and_shares() -> None:
    rng = np.random.default_rng(20160331)
    codes = [ind.code for ind in catalogue.CATALOGUE if ind.value_type != "milestone"]
    rows = []
    for area in [f"A{i:03d}" for i in range(60)]:
        for code in rng.choice(codes, size=25, replace=False):
            polar = catalogue.by_code(code).polarity != "no_judgement"
            sig = rng.choice(["better", "similar", "worse"] if polar else ["higher", "lower"])
            rows.append(row(str(code), area, str(sig), suppressed=bool(rng.random() < 0.2)))
    rules = RatingRules()
    for by in ("clinical_priority", "domain"):
        got = rate(frame(rows), rules, by=by)
        rated = got["rating"] != "Not rated"
        assert (got.loc[rated, "n_scored"] * 2 >= got.loc[rated, "n_indicators"]).all()
        assert (got.loc[~rated, "n_scored"] * 2 < got.loc[~rated, "n_indicators"]).all()
        assert got.loc[rated, "score"].between(1, 3).all()
        cuts = [rules.outstanding, rules.good, rules.requires_improvement, -np.inf]
        for rating, floor, ceiling in zip(RATINGS, cuts, [np.inf, *cuts[:-1]], strict=True):
            scores = got.loc[got["rating"] == rating, "score"]
            assert ((scores >= floor) & (scores < ceiling)).all()
        # Every scored indicator of a group shows up in the group's explanation.
        scored = score_indicators(frame(rows), rules).rename(columns={by: "group"})
        n_scored = scored.loc[scored["judged"]].groupby(["area_code", "group"])["score"].count()
        merged = got.set_index(["area_code", "group"])["n_scored"]
        assert (merged.reindex(n_scored.index) == n_scored).all()
