"""Four-point ratings of the six clinical priority areas and the four domains.

The framework promises "a separate clear rating for each of these six clinical areas, on a four
point 'Ofsted-style' scale" (CCG IAF 2016/17, section 3, paragraph 11), reached by independent
panels (section 4) and, for the annual assessment, by judgement (section 7, paragraph 22). It
publishes no formula. This module is therefore IAF Explorer's own method, stated in full so a
reader can check every rating by hand, and configurable through :class:`RatingRules`:

1. Each indicator of a group (its clinical priority, or its domain) is taken at its latest
   period in the results (on or before ``as_of`` when given).
2. Each indicator result is scored (defaults in brackets):

   * with a confidence interval: significantly better than England at the chosen level (99.8%)
     scores ``better`` (3), similar scores ``similar`` (2), significantly worse ``worse`` (1);
   * without one (scores, or ``sig`` "not compared"): by quintile, 1 = best — a top quintile
     (1) scores 3, a bottom quintile (5) scores 1, the middle quintiles (2–4) score 2;
   * milestones: Achieved 3, Partially achieved 2, Not achieved 1;
   * ``no_judgement`` indicators are not scored and do not count towards the group;
   * suppressed or missing results are not scored but do count as indicators without data.

3. The group score is the mean of its indicator scores. Cut points: Outstanding ≥ 2.5, Good ≥ 2.0,
   Requires improvement ≥ 1.5, otherwise Inadequate.
4. A group is not rated unless at least ``min_share`` (half) of its indicators have a score.

Everything is computed over the whole frame at once (pandas group-bys, no loop per area), so it
runs at practice scale (6,500 areas × 57 indicators) as well as CCG scale.

References
----------
NHS England (2016). *CCG improvement and assessment framework 2016/17*, sections 3, 4 and 7 and
    Annex A (Publications Gateway 05046).
Office for Health Improvement and Disparities. Fingertips "compared with benchmark" method:
    an area is significantly better or worse when its confidence interval excludes the benchmark
    value (Public Health Technical Guidance, "Benchmarking").
Care Quality Commission. The four-point scale (Outstanding, Good, Requires improvement,
    Inadequate) the framework's "Ofsted-style" rating borrows.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from iaf import catalogue
from iaf.errors import InputError

__all__ = [
    "GROUPINGS",
    "RATINGS",
    "RatingRules",
    "rate",
    "rating_details",
    "score_indicators",
]

# The four-point scale in order from best, then the label for a group that cannot be rated.
RATINGS: tuple[str, ...] = ("Outstanding", "Good", "Requires improvement", "Inadequate")
NOT_RATED = "Not rated"
GROUPINGS: dict[str, tuple[str, ...]] = {
    "clinical_priority": catalogue.CLINICAL_PRIORITIES,
    "domain": catalogue.DOMAINS,
}
LEVELS: dict[str, str] = {"95": "95%", "998": "99.8%"}
POLAR_SIG = ("better", "similar", "worse")
NEUTRAL_SIG = ("higher", "similar", "lower")
NOT_COMPARED = "not compared"
_REQUIRED = (
    "indicator",
    "area_code",
    "period",
    "period_end",
    "value",
    "suppressed",
    "value_type",
    "polarity",
    "quintile",
)


@dataclass(frozen=True, slots=True)
class RatingRules:
    """How indicator results become a four-point rating (IAF Explorer's method, not NHS England's).

    Attributes
    ----------
    level:
        Significance level of the comparison with England: ``"998"`` (99.8%, the default) reads
        ``sig_998``, ``"95"`` reads ``sig_95``.
    better, similar, worse:
        Scores for results significantly better than, similar to and significantly worse than
        England.
    top_quintiles, bottom_quintiles:
        Quintiles (1 = best) scoring ``better`` and ``worse`` for results without a confidence
        interval; the other quintiles score ``similar``.
    milestone_achieved, milestone_partial, milestone_not_achieved:
        Scores for milestone values 2, 1 and 0 (``catalogue.MILESTONE_LABELS``).
    outstanding, good, requires_improvement:
        Lowest group score (inclusive) for each rating; anything lower is Inadequate.
    min_share:
        Smallest share of a group's judged indicators that must have a score for it to be rated.
    """

    level: Literal["95", "998"] = "998"
    better: float = 3
    similar: float = 2
    worse: float = 1
    top_quintiles: tuple[int, ...] = (1,)
    bottom_quintiles: tuple[int, ...] = (5,)
    milestone_achieved: float = 3
    milestone_partial: float = 2
    milestone_not_achieved: float = 1
    outstanding: float = 2.5
    good: float = 2.0
    requires_improvement: float = 1.5
    min_share: float = 0.5

    def __post_init__(self) -> None:
        if self.level not in LEVELS:
            raise InputError(
                f"RatingRules.level must be '95' or '998' (99.8%), got {self.level!r}."
            )
        if not self.outstanding >= self.good >= self.requires_improvement:
            raise InputError(
                "RatingRules cut points must not increase from Outstanding to Requires "
                f"improvement; got {self.outstanding}, {self.good}, {self.requires_improvement}."
            )
        if not 0 < self.min_share <= 1:
            raise InputError(
                f"RatingRules.min_share must be a share in (0, 1], got {self.min_share!r}."
            )
        overlap = set(self.top_quintiles) & set(self.bottom_quintiles)
        if overlap or not set(self.top_quintiles) | set(self.bottom_quintiles) <= set(range(1, 6)):
            raise InputError(
                "RatingRules top_quintiles and bottom_quintiles must be distinct quintiles "
                f"1–5; got {self.top_quintiles} and {self.bottom_quintiles}."
            )

    @property
    def level_text(self) -> str:
        return LEVELS[self.level]

    @property
    def sig_column(self) -> str:
        return f"sig_{self.level}"

    def cut_points_text(self) -> str:
        """The cut points as one clause, e.g. "Outstanding ≥ 2.5, Good ≥ 2.0, …"."""
        return (
            f"Outstanding ≥ {_cut(self.outstanding)}, Good ≥ {_cut(self.good)}, "
            f"Requires improvement ≥ {_cut(self.requires_improvement)}, otherwise Inadequate"
        )

    def describe(self) -> str:
        """The whole method in two sentences, for a methods page or an export's notes."""
        return (
            f"Each indicator scores {_num(self.better)} when significantly better than England "
            f"at {self.level_text}, {_num(self.similar)} when similar and {_num(self.worse)} "
            f"when significantly worse (without a confidence interval: quintile "
            f"{_list(self.top_quintiles)} scores {_num(self.better)}, quintile "
            f"{_list(self.bottom_quintiles)} {_num(self.worse)}, others {_num(self.similar)}; "
            f"milestones: achieved {_num(self.milestone_achieved)}, partially "
            f"{_num(self.milestone_partial)}, not achieved {_num(self.milestone_not_achieved)}; "
            "no-judgement indicators are not scored). The group score is the mean of its "
            f"indicator scores, rated {self.cut_points_text()}, and a group needs scores for at "
            f"least {_share(self.min_share)} of its indicators to be rated."
        )


# --------------------------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------------------------


def score_indicators(
    results: pd.DataFrame,
    rules: RatingRules = RatingRules(),
    *,
    as_of: pd.Timestamp | str | None = None,
    areas: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Score every area × indicator at the indicator's latest period.

    The latest period is the indicator's, across all areas, so an area that lacks it gets
    "no result" rather than an older value. ``areas`` limits the output (default: every
    ``area_code`` in ``results``).

    Returns one row per area × catalogue indicator, in Annex A order within each area, with
    area_code, indicator, name (short name), domain, clinical_priority, polarity, period,
    period_end, result (a short label: "better", "quintile 1", "Achieved", "suppressed" …),
    score (NaN when not scored), judged (False for no-judgement indicators) and reason (why, in
    words). Indicators not in the catalogue belong to no group and are left out.
    """
    _validate(results, rules)
    frame = results
    if as_of is not None:
        frame = frame.loc[frame["period_end"] <= pd.Timestamp(as_of)]
    latest_end = frame.groupby("indicator", observed=True)["period_end"].transform("max")
    latest = frame.loc[frame["period_end"] == latest_end]
    indicators = (
        latest.groupby("indicator", observed=True)[["period", "period_end", "polarity"]]
        .first()
        .reset_index()
        .astype({"indicator": str, "period": "string", "polarity": str})
        .rename(columns={"polarity": "results_polarity"})
    )
    if areas is None:
        areas = pd.unique(results["area_code"].astype(str))
    else:
        areas = [str(a) for a in areas]
        latest = latest.loc[latest["area_code"].astype(str).isin(areas)]
    scored = _score_rows(latest, rules)

    cat = catalogue.catalogue_frame()[
        ["code", "short_name", "domain", "clinical_priority", "polarity"]
    ].rename(columns={"code": "indicator", "short_name": "name"})
    # The results' polarity drives their sig labels, so it wins over the catalogue's where given.
    cat = cat.merge(indicators, on="indicator", how="left").assign(
        order=np.arange(len(cat)),
        polarity=lambda c: c["results_polarity"].fillna(c["polarity"]).astype(str),
    )
    out = (
        pd.DataFrame({"area_code": pd.Series(areas, dtype=str)})
        .merge(cat, how="cross")
        .merge(scored, on=["area_code", "indicator"], how="left")
    )
    missing = out["result"].isna().to_numpy()
    judged = (out["polarity"] != "no_judgement").to_numpy()
    period = out["period"].fillna("").astype(str)
    absent = np.where(
        out["period"].isna(), "no results for this indicator", "no result for " + period
    )
    out = out.assign(
        judged=judged,
        result=out["result"].where(~missing, np.where(judged, "no result", "not judged")),
        reason=out["reason"].where(~missing, np.where(judged, absent, _NOT_JUDGED_REASON)),
    )
    return out.sort_values(["area_code", "order"], kind="stable").reset_index(drop=True)[
        [
            "area_code",
            "indicator",
            "name",
            "domain",
            "clinical_priority",
            "polarity",
            "period",
            "period_end",
            "result",
            "score",
            "judged",
            "reason",
        ]
    ]


def rate(
    results: pd.DataFrame,
    rules: RatingRules = RatingRules(),
    by: Literal["clinical_priority", "domain"] = "clinical_priority",
    *,
    as_of: pd.Timestamp | str | None = None,
) -> pd.DataFrame:
    """Rate every area on each clinical priority (or domain) with ``rules``.

    Parameters
    ----------
    results:
        The analysis layer's results frame (one row per indicator × area × period).
    rules:
        The scoring and cut-point rules; see :class:`RatingRules` and the module docstring.
    by:
        ``"clinical_priority"`` (six groups) or ``"domain"`` (four groups).
    as_of:
        Use each indicator's latest period ending on or before this date (default: latest).

    Returns
    -------
    One row per area × group, groups in framework order: area_code, group, rating (ordered
    categorical: Outstanding, Good, Requires improvement, Inadequate, Not rated), score (mean
    indicator score; NaN when not rated), n_scored, n_indicators (judged indicators in the
    group), explanation (a paragraph naming each indicator, its score and why, and the cut
    points) and method.
    """
    groups = _groups(by)
    scored = score_indicators(results, rules, as_of=as_of).rename(columns={by: "group"})
    scored = scored.loc[scored["group"].isin(groups)]
    return _aggregate(scored, rules, groups)


def rating_details(
    results: pd.DataFrame,
    area: str,
    group: str,
    rules: RatingRules = RatingRules(),
    *,
    as_of: pd.Timestamp | str | None = None,
) -> pd.DataFrame:
    """The indicators behind one area's rating of one group (a clinical priority or a domain).

    Returns one row per indicator of the group in Annex A order: indicator, name, period,
    result, score (NaN when not scored) and reason. No-judgement indicators are listed with
    no score, so the table shows everything the group contains.
    """
    by = _group_kind(group)
    _validate(results, rules)
    if not (results["area_code"].astype(str) == area).any():
        raise InputError(f"rating_details: area {area!r} has no rows in column 'area_code'.")
    scored = score_indicators(results, rules, as_of=as_of, areas=[area])
    columns = ["indicator", "name", "period", "result", "score", "reason"]
    return scored.loc[scored[by] == group, columns].reset_index(drop=True)


# --------------------------------------------------------------------------------------------
# validation
# --------------------------------------------------------------------------------------------


def _describe_rows(frame: pd.DataFrame, mask: np.ndarray, cols: list[str], limit: int = 5) -> str:
    rows = frame.loc[mask, cols].head(limit)
    labels = [" ".join(str(v) for v in row) for row in rows.itertuples(index=False)]
    more = int(mask.sum()) - len(labels)
    return ", ".join(labels) + (f" and {more} more" if more > 0 else "")


def _validate(results: pd.DataFrame, rules: RatingRules) -> None:
    if not isinstance(rules, RatingRules):
        raise InputError(f"rules must be a RatingRules, got {type(rules).__name__}.")
    if not isinstance(results, pd.DataFrame):
        raise InputError(f"ratings need a results DataFrame, got {type(results).__name__}.")
    need = [*_REQUIRED, rules.sig_column]
    missing = [c for c in need if c not in results.columns]
    if missing:
        raise InputError(
            f"ratings need column(s) {', '.join(map(repr, missing))}, which the results lack "
            f"(they have {', '.join(map(str, results.columns))})."
        )
    keys = ["indicator", "area_code", "period"]
    if not pd.api.types.is_datetime64_any_dtype(results["period_end"]):
        raise InputError("ratings: column 'period_end' must hold dates (datetime64).")
    dup = results.duplicated(["indicator", "area_code", "period_end"], keep=False).to_numpy()
    if dup.any():
        raise InputError(
            f"ratings: {int(dup.sum())} rows repeat an indicator × area × period: "
            f"{_describe_rows(results, dup, keys)}."
        )
    polarity = results["polarity"].astype(str)
    bad = ~polarity.isin(catalogue.POLARITIES).to_numpy()
    if bad.any():
        raise InputError(
            f"ratings: column 'polarity' must be one of {', '.join(catalogue.POLARITIES)}; "
            f"{int(bad.sum())} rows are not: {_describe_rows(results, bad, [*keys, 'polarity'])}."
        )
    sig = results[rules.sig_column].fillna(NOT_COMPARED).astype(str)
    allowed = np.where(
        polarity == "no_judgement",
        sig.isin([*NEUTRAL_SIG, NOT_COMPARED]),
        sig.isin([*POLAR_SIG, NOT_COMPARED]),
    )
    if not allowed.all():
        raise InputError(
            f"ratings: column {rules.sig_column!r} must be better/similar/worse for indicators "
            "with a polarity, higher/similar/lower for no_judgement ones, or 'not compared'; "
            f"{int((~allowed).sum())} rows are not: "
            f"{_describe_rows(results, ~allowed, [*keys, 'polarity', rules.sig_column])}."
        )
    quintile = pd.to_numeric(results["quintile"], errors="coerce")
    bad = (results["quintile"].notna() & ~quintile.isin(range(1, 6))).to_numpy()
    if bad.any():
        raise InputError(
            f"ratings: column 'quintile' must be a whole number 1–5 or missing; {int(bad.sum())} "
            f"rows are not: {_describe_rows(results, bad, [*keys, 'quintile'])}."
        )
    milestone = (results["value_type"].astype(str) == "milestone").to_numpy()
    value = pd.to_numeric(results["value"], errors="coerce")
    bad = milestone & results["value"].notna().to_numpy() & ~value.isin(catalogue.MILESTONE_LABELS)
    if bad.any():
        raise InputError(
            "ratings: milestone values in column 'value' must be 0 (not achieved), 1 (partially) "
            f"or 2 (achieved); {int(bad.sum())} rows are not: "
            f"{_describe_rows(results, bad, [*keys, 'value'])}."
        )


def _groups(by: str) -> tuple[str, ...]:
    if by not in GROUPINGS:
        raise InputError(f"by must be 'clinical_priority' or 'domain', got {by!r}.")
    return GROUPINGS[by]


def _group_kind(group: str) -> str:
    for by, groups in GROUPINGS.items():
        if group in groups:
            return by
    known = ", ".join(g for gs in GROUPINGS.values() for g in gs)
    raise InputError(f"group {group!r} is neither a clinical priority nor a domain ({known}).")


# --------------------------------------------------------------------------------------------
# scoring
# --------------------------------------------------------------------------------------------

_NOT_JUDGED_REASON = "no judgement (neither higher nor lower is better), so not scored"


def _score_rows(latest: pd.DataFrame, rules: RatingRules) -> pd.DataFrame:
    """Score, result label and reason for each row; one rule per condition, first match wins."""
    sig = latest[rules.sig_column].fillna(NOT_COMPARED).astype(str).to_numpy()
    suppressed = latest["suppressed"].fillna(False).astype(bool).to_numpy()
    value = pd.to_numeric(latest["value"], errors="coerce").to_numpy(dtype=float)
    quintile = pd.to_numeric(latest["quintile"], errors="coerce").to_numpy(dtype=float)
    judged = (latest["polarity"].astype(str) != "no_judgement").to_numpy()
    milestone = (latest["value_type"].astype(str) == "milestone").to_numpy()
    has_value = ~suppressed & ~np.isnan(value)
    top = np.isin(quintile, rules.top_quintiles)
    bottom = np.isin(quintile, rules.bottom_quintiles)
    level = rules.level_text

    # Labels by lookup (index 0 = missing) rather than per-row string building: practice scale.
    ms_index = np.where(np.isin(value, (0, 1, 2)), np.nan_to_num(value, nan=-1) + 1, 0).astype(int)
    ms_label = np.array(["", *(catalogue.MILESTONE_LABELS[k] for k in (0, 1, 2))], dtype=object)
    ms_score = np.array(
        [
            np.nan,
            rules.milestone_not_achieved,
            rules.milestone_partial,
            rules.milestone_achieved,
        ]
    )[ms_index]
    q_index = np.nan_to_num(quintile, nan=0).astype(int)
    q_result = np.array(["", *(f"quintile {q}" for q in range(1, 6))], dtype=object)[q_index]

    def q_reason(where: str) -> np.ndarray:
        texts = [""] + [
            f"no confidence interval, so compared by quintile (quintile {q} of 5, {where})"
            for q in range(1, 6)
        ]
        return np.array(texts, dtype=object)[q_index]

    conditions = [
        ~judged,
        suppressed,
        ~has_value,
        milestone,
        sig == "better",
        sig == "similar",
        sig == "worse",
        ~np.isnan(quintile) & top,
        ~np.isnan(quintile) & bottom,
        ~np.isnan(quintile),
    ]
    results = [
        "not judged",
        "suppressed",
        "no value",
        ms_label[ms_index],
        "better",
        "similar",
        "worse",
        q_result,
        q_result,
        q_result,
    ]
    scores = [
        np.nan,
        np.nan,
        np.nan,
        ms_score,
        rules.better,
        rules.similar,
        rules.worse,
        rules.better,
        rules.worse,
        rules.similar,
    ]
    reasons = [
        _NOT_JUDGED_REASON,
        "suppressed for small numbers, so no value is published",
        "no value",
        np.array(["", *(f"milestone {ms_label[k]}" for k in (1, 2, 3))], dtype=object)[ms_index],
        f"significantly better than England at {level}",
        f"similar to England at {level} (its confidence interval includes England's value)",
        f"significantly worse than England at {level}",
        q_reason("the top"),
        q_reason("the bottom"),
        q_reason("the middle"),
    ]
    return pd.DataFrame(
        {
            "area_code": latest["area_code"].astype(str).to_numpy(),
            "indicator": latest["indicator"].astype(str).to_numpy(),
            "result": np.select(conditions, results, default="not compared"),
            "score": np.select(conditions, scores, default=np.nan).astype(float),
            "reason": np.select(
                conditions,
                reasons,
                default="not compared with England and no quintile, so not scored",
            ),
        }
    )


# --------------------------------------------------------------------------------------------
# aggregation and explanation
# --------------------------------------------------------------------------------------------


def _aggregate(scored: pd.DataFrame, rules: RatingRules, groups: tuple[str, ...]) -> pd.DataFrame:
    keys = ["area_code", "group"]
    judged = scored.loc[scored["judged"]]
    judged = judged.assign(has_score=judged["score"].notna())
    summary = (
        judged.groupby(keys, sort=False, observed=True)
        .agg(
            n_indicators=("indicator", "size"),
            n_scored=("has_score", "sum"),
            total=("score", "sum"),
        )
        .reset_index()
    )
    summary = summary.assign(phrases=_joined_phrases(judged, summary, keys))
    # Every area gets a row for every group, even one with no judged indicators in it.
    grid = pd.DataFrame({"area_code": pd.unique(scored["area_code"])}).merge(
        pd.DataFrame({"group": list(groups)}), how="cross"
    )
    summary = grid.merge(summary, on=keys, how="left").fillna(
        {"n_indicators": 0, "n_scored": 0, "total": 0.0, "phrases": ""}
    )
    n_ind = summary["n_indicators"].astype(int).to_numpy()
    n_sc = summary["n_scored"].astype(int).to_numpy()
    needed = np.maximum(np.ceil(rules.min_share * n_ind - 1e-9), 1).astype(int)
    rated = (n_ind > 0) & (n_sc >= needed)
    with np.errstate(invalid="ignore", divide="ignore"):
        # sum / n, not a running mean: a mean of whole scores that is exactly 2.5 stays 2.5.
        score = np.where(rated, summary["total"].to_numpy(dtype=float) / n_sc, np.nan)
    rating = np.select(
        [
            ~rated,
            score >= rules.outstanding,
            score >= rules.good,
            score >= rules.requires_improvement,
        ],
        [NOT_RATED, *RATINGS[:3]],
        default=RATINGS[3],
    )
    explanation = _explanations(
        summary["group"].tolist(),
        summary["phrases"].tolist(),
        rules,
        rating,
        score,
        rated,
        n_sc,
        n_ind,
        needed,
    )
    return pd.DataFrame(
        {
            "area_code": summary["area_code"].astype(str),
            "group": pd.Categorical(summary["group"], categories=list(groups), ordered=True),
            "rating": pd.Categorical(rating, categories=[*RATINGS, NOT_RATED], ordered=True),
            "score": score,
            "n_scored": n_sc,
            "n_indicators": n_ind,
            "explanation": explanation,
            "method": f"IAF Explorer rating: mean indicator score, sig at {rules.level_text}",
        }
    ).sort_values(["area_code", "group"], kind="stable", ignore_index=True)


def _joined_phrases(judged: pd.DataFrame, summary: pd.DataFrame, keys: list[str]) -> list[str]:
    """Per group (in ``summary`` order), "code name (period) scored 3: why; …" in Annex A order."""
    # astype(object): with no scores the map gives float64, which cannot hold ""
    score_text = judged["score"].map(_num, na_action="ignore").astype(object).fillna("")
    period = judged["period"].fillna("").astype(str)
    phrase = (
        judged["indicator"].astype(str)
        + " "
        + judged["name"].astype(str)
        + np.where(period != "", " (" + period + ")", "")
        + np.where(judged["has_score"], " scored " + score_text + ": ", " not scored: ")
        + judged["reason"].astype(str)
    ).tolist()
    # groupby(sort=False) numbers groups in order of first appearance, as ``summary`` lists them.
    codes = judged.groupby(keys, sort=False, observed=True).ngroup().to_numpy()
    order = np.argsort(codes, kind="stable")
    starts = np.searchsorted(codes[order], np.arange(len(summary)), side="left")
    ends = np.append(starts[1:], len(order))
    ordered = [phrase[i] for i in order]
    return ["; ".join(ordered[a:b]) for a, b in zip(starts, ends, strict=True)]


def _explanations(
    groups: list[str],
    phrases: list[str],
    rules: RatingRules,
    rating: np.ndarray,
    score: np.ndarray,
    rated: np.ndarray,
    n_sc: np.ndarray,
    n_ind: np.ndarray,
    needed: np.ndarray,
) -> list[str]:
    tail = (
        f" Each indicator scores {_num(rules.better)} when significantly better than England "
        f"at {rules.level_text}, {_num(rules.similar)} when similar and {_num(rules.worse)} "
        "when significantly worse (by quintile without a confidence interval); the group score "
        f"is their mean. Cut points: {rules.cut_points_text()}."
    )
    share = _share(rules.min_share)
    out = []
    for group, body, rating_i, score_i, rated_i, sc, ind, need in zip(
        groups,
        phrases,
        rating.tolist(),
        score.tolist(),
        rated.tolist(),
        n_sc.tolist(),
        n_ind.tolist(),
        needed.tolist(),
        strict=True,
    ):
        if rated_i:
            head = (
                f"{group} is rated {rating_i}: the mean score of the {sc} of {ind} indicators "
                f"with data is {score_i:.2f}."
            )
        elif ind == 0:
            head = f"Not rated: {group} has no indicators that can be judged."
        else:
            head = (
                f"Not rated: too few indicators with data ({sc} of {ind}); {group} needs scores "
                f"for at least {share} of its indicators ({need} of {ind})."
            )
        out.append(f"{head} {body}.{tail}" if body else f"{head}{tail}")
    return out


# --------------------------------------------------------------------------------------------
# formatting helpers
# --------------------------------------------------------------------------------------------


def _num(x: float) -> str:
    """A score as people write it: 3 → "3", 2.5 → "2.5"."""
    return f"{x:g}"


def _cut(x: float) -> str:
    """A cut point with at least one decimal, as the scale is usually written: 2 → "2.0"."""
    return f"{x:.1f}" if round(x, 1) == x else f"{x:g}"


def _list(values: tuple[int, ...]) -> str:
    items = [str(v) for v in values]
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " or " + items[-1]


def _share(share: float) -> str:
    if math.isclose(share, 0.5):
        return "half"
    return f"{share * 100:g}%"
