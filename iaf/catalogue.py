"""The CCG IAF 2016/17 indicator catalogue (NHS England, Annex A), declared once as data.

4 domains, 29 areas, 57 indicators and 6 clinical priority areas. Names are Annex A's own
wording (NHS England, *CCG improvement and assessment framework 2016/17*, Publications Gateway
05046, 31 March 2016); codes are the framework's (101a … 165a). Value type, unit, polarity and
frequency follow the framework's technical annex where it gives them; where the annex describes
a milestone or assurance rating, the indicator is a ``milestone`` scored 0 (not achieved),
1 (partially achieved) or 2 (achieved).

Pages build every picker from this catalogue; nothing about an indicator is hard-coded elsewhere.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

import pandas as pd

Domain = Literal["Better Health", "Better Care", "Sustainability", "Leadership"]
ClinicalPriority = Literal[
    "Cancer", "Dementia", "Diabetes", "Mental health", "Learning disabilities", "Maternity"
]
ValueType = Literal["proportion", "rate", "ratio", "count", "score", "milestone"]
Polarity = Literal["higher_is_better", "lower_is_better", "no_judgement"]
Frequency = Literal["quarterly", "annual", "rolling_12m"]

DOMAINS: tuple[str, ...] = ("Better Health", "Better Care", "Sustainability", "Leadership")
CLINICAL_PRIORITIES: tuple[str, ...] = (
    "Cancer",
    "Dementia",
    "Diabetes",
    "Mental health",
    "Learning disabilities",
    "Maternity",
)
VALUE_TYPES: tuple[str, ...] = ("proportion", "rate", "ratio", "count", "score", "milestone")
POLARITIES: tuple[str, ...] = ("higher_is_better", "lower_is_better", "no_judgement")
FREQUENCIES: tuple[str, ...] = ("quarterly", "annual", "rolling_12m")

# Milestone indicators are scored on this ordinal scale (higher is better).
MILESTONE_LABELS: dict[int, str] = {0: "Not achieved", 1: "Partially achieved", 2: "Achieved"}

POLARITY_WORDS: dict[str, str] = {
    "higher_is_better": "higher is better",
    "lower_is_better": "lower is better",
    "no_judgement": "no judgement: neither higher nor lower is better",
}


@dataclass(frozen=True, slots=True)
class Indicator:
    """One framework indicator: what it measures and how to judge it."""

    code: str
    name: str
    short_name: str
    domain: str
    area: str
    clinical_priority: str | None
    value_type: str
    unit: str
    multiplier: float
    polarity: str
    frequency: str
    definition: str

    @property
    def has_counts(self) -> bool:
        """Whether values come from a numerator and denominator (so CIs and funnels apply)."""
        return self.value_type in {"proportion", "rate", "ratio", "count"}

    @property
    def polarity_words(self) -> str:
        return POLARITY_WORDS[self.polarity]

    @property
    def label(self) -> str:
        return f"{self.code} {self.short_name}"


def _i(
    code: str,
    name: str,
    short_name: str,
    domain: str,
    area: str,
    value_type: str,
    unit: str,
    multiplier: float,
    polarity: str,
    frequency: str,
    definition: str,
    clinical_priority: str | None = None,
) -> Indicator:
    return Indicator(
        code=code,
        name=name,
        short_name=short_name,
        domain=domain,
        area=area,
        clinical_priority=clinical_priority,
        value_type=value_type,
        unit=unit,
        multiplier=multiplier,
        polarity=polarity,
        frequency=frequency,
        definition=definition,
    )


HB, BC, SU, LE = DOMAINS
HI, LO, NJ = POLARITIES
Q, A, R12 = FREQUENCIES

# fmt: off
CATALOGUE: tuple[Indicator, ...] = (
    # ── Better Health ────────────────────────────────────────────────────────────────
    _i("101a", "Maternal smoking at delivery", "Maternal smoking at delivery",
       HB, "Smoking", "proportion", "%", 100, LO, Q,
       "Percentage of maternities where the mother was a known smoker at the time of delivery."),
    _i("102a", "Percentage of children aged 10-11 classified as overweight or obese",
       "Child overweight or obesity (10-11)", HB, "Child obesity", "proportion", "%", 100, LO, A,
       "Percentage of children in Year 6 measured as overweight or obese by the National Child "
       "Measurement Programme."),
    _i("103a", "Diabetes patients that have achieved all the NICE-recommended treatment targets: "
       "Three (HbA1c, cholesterol and blood pressure) for adults and one (HbA1c) for children",
       "Diabetes: all NICE treatment targets", HB, "Diabetes", "proportion", "%", 100, HI, A,
       "Percentage of people with diabetes meeting all NICE-recommended treatment targets "
       "(National Diabetes Audit).", "Diabetes"),
    _i("103b", "People with diabetes diagnosed less than a year who attend a structured education "
       "course", "Diabetes: structured education", HB, "Diabetes", "proportion", "%", 100, HI, A,
       "Percentage of people diagnosed with diabetes in the year who attended a structured "
       "education course.", "Diabetes"),
    _i("104a", "Injuries from falls in people aged 65 and over", "Falls injuries aged 65+",
       HB, "Falls", "rate", "per 100,000", 100_000, LO, A,
       "Emergency admissions for injuries due to falls in people aged 65 and over, per 100,000 "
       "population aged 65 and over."),
    _i("105a", "Utilisation of the NHS e-referral service to enable choice at first routine "
       "elective referral", "e-Referral utilisation", HB, "Personalisation and choice",
       "proportion", "%", 100, HI, Q,
       "Percentage of first outpatient referrals made through the NHS e-Referral Service."),
    _i("105b", "Personal health budgets", "Personal health budgets", HB,
       "Personalisation and choice", "rate", "per 100,000", 100_000, HI, Q,
       "People with a personal health budget in place, per 100,000 GP-registered population."),
    _i("105c", "Percentage of deaths which take place in hospital", "Deaths in hospital", HB,
       "Personalisation and choice", "proportion", "%", 100, LO, R12,
       "Percentage of all deaths of registered patients that occurred in hospital, rolling 12 "
       "months."),
    _i("105d", "People with a long-term condition feeling supported to manage their condition(s)",
       "LTC: feeling supported", HB, "Personalisation and choice", "proportion", "%", 100, HI, A,
       "Percentage of GP Patient Survey respondents with a long-term condition who feel "
       "supported to manage it."),
    _i("106a", "Inequality in avoidable emergency admissions", "Inequality in avoidable admissions",
       HB, "Health inequalities", "score", "SII per 100,000", 1, LO, A,
       "Slope index of inequality in emergency admissions for ambulatory care sensitive and "
       "urgent care sensitive conditions across deprivation."),
    _i("107a", "Anti-microbial resistance: Appropriate prescribing of antibiotics in primary care",
       "Antibiotic prescribing", HB, "Anti-microbial resistance", "rate",
       "items per STAR-PU", 1, LO, R12,
       "Antibacterial items prescribed in primary care per STAR-PU, rolling 12 months."),
    _i("107b", "Anti-microbial resistance: Appropriate prescribing of broad spectrum antibiotics "
       "in primary care", "Broad-spectrum antibiotic prescribing", HB, "Anti-microbial resistance",
       "proportion", "%", 100, LO, R12,
       "Co-amoxiclav, cephalosporins and quinolones as a percentage of all antibacterial items, "
       "rolling 12 months."),
    _i("108a", "Quality of life of carers", "Carers' quality of life", HB, "Carers", "score",
       "EQ-5D score", 1, HI, A,
       "Average health status (EQ-5D) score of GP Patient Survey respondents who are carers."),
    # ── Better Care ──────────────────────────────────────────────────────────────────
    _i("121a", "Use of high quality providers", "High quality providers", BC, "Care ratings",
       "score", "score (0-100)", 1, HI, Q,
       "Composite of CQC ratings of the providers the CCG's patients use, weighted by activity."),
    _i("122a", "Cancers diagnosed at early stage", "Cancers diagnosed early", BC, "Cancer",
       "proportion", "%", 100, HI, A,
       "Percentage of new cancers diagnosed at stage 1 or 2.", "Cancer"),
    _i("122b", "People with urgent GP referral having first definitive treatment for cancer within "
       "62 days of referral", "Cancer 62-day wait", BC, "Cancer", "proportion", "%", 100, HI, Q,
       "Percentage of patients treated within 62 days of an urgent GP referral for suspected "
       "cancer.", "Cancer"),
    _i("122c", "One-year survival from all cancers", "One-year cancer survival", BC, "Cancer",
       "proportion", "%", 100, HI, A,
       "Percentage of adults diagnosed with cancer who survive at least one year.", "Cancer"),
    _i("122d", "Cancer patient experience", "Cancer patient experience", BC, "Cancer", "score",
       "average rating (0-10)", 1, HI, A,
       "Average rating of care given by respondents to the National Cancer Patient Experience "
       "Survey.", "Cancer"),
    _i("123a", "Improving Access to Psychological Therapies recovery rate", "IAPT recovery", BC,
       "Mental Health", "proportion", "%", 100, HI, Q,
       "Percentage of people completing IAPT treatment who moved to recovery.", "Mental health"),
    _i("123b", "People with first episode of psychosis starting treatment with a NICE-recommended "
       "package of care treated within 2 weeks of referral", "Early intervention in psychosis",
       BC, "Mental Health", "proportion", "%", 100, HI, Q,
       "Percentage of people with a first episode of psychosis starting NICE-recommended "
       "treatment within two weeks of referral.", "Mental health"),
    _i("123c", "Children and young people's mental health services transformation",
       "CYP mental health transformation", BC, "Mental Health", "milestone", "milestone", 1, HI, A,
       "Assurance of the CCG's children and young people's mental health transformation plan.",
       "Mental health"),
    _i("123d", "Crisis care and liaison mental health services transformation",
       "Crisis and liaison transformation", BC, "Mental Health", "milestone", "milestone", 1, HI, A,
       "Assurance of progress on crisis care and liaison mental health services.",
       "Mental health"),
    _i("123e", "Out of area placements for acute mental health inpatient care - transformation",
       "Out of area placements", BC, "Mental Health", "milestone", "milestone", 1, HI, A,
       "Assurance of progress in eliminating inappropriate out of area placements.",
       "Mental health"),
    _i("124a", "Reliance on specialist inpatient care for people with a learning disability "
       "and/or autism", "LD: specialist inpatient care", BC, "Learning disability", "rate",
       "per 1,000,000 adults", 1_000_000, LO, Q,
       "Inpatients with a learning disability and/or autism per million adult population.",
       "Learning disabilities"),
    _i("124b", "Proportion of people with a learning disability on the GP register receiving an "
       "annual health check", "LD: annual health check", BC, "Learning disability",
       "proportion", "%", 100, HI, Q,
       "Percentage of people on the GP learning disability register who had an annual health "
       "check.", "Learning disabilities"),
    _i("125a", "Neonatal mortality and stillbirths", "Neonatal mortality and stillbirths", BC,
       "Maternity", "rate", "per 1,000 births", 1_000, LO, A,
       "Stillbirths and neonatal deaths per 1,000 births.", "Maternity"),
    _i("125b", "Women's experience of maternity services", "Maternity experience", BC, "Maternity",
       "score", "score (0-100)", 1, HI, A,
       "Composite score from the CQC maternity survey.", "Maternity"),
    _i("125c", "Choices in maternity services", "Maternity choices", BC, "Maternity", "score",
       "score (0-100)", 1, HI, A,
       "Composite score of the choices women report being offered (CQC maternity survey).",
       "Maternity"),
    _i("126a", "Estimated diagnosis rate for people with dementia", "Dementia diagnosis rate", BC,
       "Dementia", "ratio", "% of estimated prevalence", 100, HI, Q,
       "People aged 65+ with a recorded dementia diagnosis as a percentage of the estimated "
       "number with dementia.", "Dementia"),
    _i("126b", "Dementia care planning and post-diagnostic support", "Dementia care planning", BC,
       "Dementia", "proportion", "%", 100, HI, A,
       "Percentage of people with dementia whose care plan was reviewed face to face in the "
       "last 12 months.", "Dementia"),
    _i("127a", "Achievement of milestones in the delivery of an integrated urgent care service",
       "Integrated urgent care milestones", BC, "Urgent and emergency care", "milestone",
       "milestone", 1, HI, A, "Assurance of milestones towards an integrated urgent care service."),
    _i("127b", "Emergency admissions for urgent care sensitive conditions",
       "Urgent care sensitive admissions", BC, "Urgent and emergency care", "ratio",
       "ratio to expected", 1, LO, R12,
       "Emergency admissions for urgent care sensitive conditions, indirectly standardised "
       "(observed / expected), rolling 12 months."),
    _i("127c", "Percentage of patients admitted, transferred or discharged from A&E within 4 hours",
       "A&E 4 hours", BC, "Urgent and emergency care", "proportion", "%", 100, HI, Q,
       "Percentage of A&E attendances admitted, transferred or discharged within four hours."),
    _i("127d", "Ambulance waits", "Ambulance waits", BC, "Urgent and emergency care",
       "proportion", "%", 100, HI, Q,
       "Percentage of the most urgent ambulance calls answered within the response standard."),
    _i("127e", "Delayed transfers of care attributable to the NHS per 100,000 population",
       "Delayed transfers (NHS)", BC, "Urgent and emergency care", "rate", "per 100,000", 100_000,
       LO, Q, "Delayed transfer of care days attributable to the NHS per 100,000 adults."),
    _i("127f", "Population use of hospital beds following emergency admission",
       "Bed use after emergency admission", BC, "Urgent and emergency care", "rate",
       "bed days per 1,000", 1_000, LO, R12,
       "Emergency bed days per 1,000 population, rolling 12 months."),
    _i("128a", "Management of long term conditions", "LTC management (ACSC admissions)", BC,
       "Primary medical care", "ratio", "ratio to expected", 1, LO, R12,
       "Unplanned admissions for chronic ambulatory care sensitive conditions, indirectly "
       "standardised (observed / expected), rolling 12 months."),
    _i("128b", "Patient experience of GP services", "GP patient experience", BC,
       "Primary medical care", "proportion", "%", 100, HI, A,
       "Percentage of GP Patient Survey respondents describing their overall experience as good."),
    _i("128c", "Primary care access", "Extended GP access", BC, "Primary medical care",
       "proportion", "%", 100, HI, Q,
       "Percentage of the population with access to extended-hours GP appointments."),
    _i("128d", "Primary care workforce", "GP workforce", BC, "Primary medical care", "rate",
       "FTE per 100,000", 100_000, HI, A,
       "Full-time equivalent GPs and practice nurses per 100,000 registered population."),
    _i("129a", "Patients waiting 18 weeks or less from referral to hospital treatment",
       "Referral to treatment in 18 weeks", BC, "Elective access", "proportion", "%", 100, HI, Q,
       "Percentage of incomplete referral-to-treatment pathways within 18 weeks."),
    _i("130a", "Achievement of clinical standards in the delivery of 7 day services",
       "Seven-day services", BC, "7 day services", "milestone", "milestone", 1, HI, A,
       "Assurance of the four priority clinical standards for seven-day hospital services."),
    _i("131a", "People eligible for standard NHS Continuing Healthcare", "Continuing Healthcare",
       BC, "NHS Continuing Healthcare", "rate", "per 50,000", 50_000, NJ, Q,
       "People eligible for standard NHS Continuing Healthcare per 50,000 population."),
    # ── Sustainability ───────────────────────────────────────────────────────────────
    _i("141a", "Financial plan", "Financial plan", SU, "Financial sustainability", "milestone",
       "milestone", 1, HI, A, "Assessment of the CCG's financial plan against business rules."),
    _i("141b", "In-year financial performance", "In-year financial performance", SU,
       "Financial sustainability", "milestone", "milestone", 1, HI, Q,
       "Assessment of in-year financial performance against plan."),
    _i("142a", "Outcomes in areas with identified scope for improvement",
       "Outcomes where scope identified", SU, "Allocative efficiency", "proportion", "%", 100,
       HI, A, "Percentage of RightCare outcome opportunities in which the CCG improved."),
    _i("142b", "Expenditure in areas with identified scope for improvement",
       "Expenditure where scope identified", SU, "Allocative efficiency", "proportion", "%", 100,
       HI, A, "Percentage of RightCare spending opportunities in which the CCG improved."),
    _i("143a", "Adoption of new models of care", "New models of care", SU, "New models of care",
       "milestone", "milestone", 1, HI, A,
       "Assurance of progress in adopting new models of care."),
    _i("144a", "Local digital roadmap in place", "Local digital roadmap", SU,
       "Paper-free at the point of care", "milestone", "milestone", 1, HI, A,
       "Whether an assured local digital roadmap is in place."),
    _i("144b", "Digital interactions between primary and secondary care",
       "Digital interactions", SU, "Paper-free at the point of care", "proportion", "%", 100,
       HI, Q, "Percentage of referrals and discharge letters exchanged electronically."),
    _i("145a", "Local strategic estates plan (SEP) in place", "Strategic estates plan", SU,
       "Estates strategy", "milestone", "milestone", 1, HI, A,
       "Whether an assured local strategic estates plan is in place."),
    # ── Leadership ───────────────────────────────────────────────────────────────────
    _i("161a", "Sustainability and Transformation Plan", "Sustainability and transformation plan",
       LE, "Sustainability and Transformation Plan", "milestone", "milestone", 1, HI, A,
       "Assessment of the STP the CCG belongs to."),
    _i("162a", "Probity and corporate governance", "Probity and governance", LE,
       "Probity and corporate governance", "milestone", "milestone", 1, HI, A,
       "Assessment of the CCG's probity and governance, including conflicts of interest."),
    _i("163a", "Staff engagement index", "Staff engagement", LE, "Workforce engagement", "score",
       "index (1-5)", 1, HI, A, "Staff engagement index from the CCG staff survey."),
    _i("163b", "Progress against workforce race equality standard", "Workforce race equality",
       LE, "Workforce engagement", "score", "likelihood ratio", 1, LO, A,
       "Relative likelihood of white staff being appointed from shortlisting compared with BME "
       "staff (1 = parity)."),
    _i("164a", "Effectiveness of working relationships in the local system",
       "Local working relationships", LE, "CCGs' local relationships", "score", "score (0-100)",
       1, HI, A, "Score from the CCG 360-degree stakeholder survey."),
    _i("165a", "Quality of CCG leadership", "Quality of leadership", LE, "Quality of leadership",
       "milestone", "milestone", 1, HI, A,
       "Assessment of the quality of the CCG's leadership."),
)
# fmt: on

_BY_CODE: dict[str, Indicator] = {ind.code: ind for ind in CATALOGUE}


def by_code(code: str) -> Indicator:
    """The indicator with this framework code, or a KeyError naming the unknown code."""
    try:
        return _BY_CODE[code]
    except KeyError:
        raise KeyError(f"unknown indicator code {code!r}: not one of the 57 IAF codes") from None


def is_known(code: str) -> bool:
    return code in _BY_CODE


def areas_of(domain: str | None = None) -> tuple[str, ...]:
    """The framework's areas in Annex A order, optionally within one domain."""
    seen: dict[str, None] = {}
    for ind in CATALOGUE:
        if domain is None or ind.domain == domain:
            seen.setdefault(ind.area, None)
    return tuple(seen)


def indicators_where(
    *,
    domain: str | None = None,
    area: str | None = None,
    clinical_priority: str | None = None,
) -> tuple[Indicator, ...]:
    return tuple(
        ind
        for ind in CATALOGUE
        if (domain is None or ind.domain == domain)
        and (area is None or ind.area == area)
        and (clinical_priority is None or ind.clinical_priority == clinical_priority)
    )


def catalogue_frame() -> pd.DataFrame:
    """The catalogue as a table, one row per indicator, in Annex A order."""
    frame = pd.DataFrame([asdict(ind) for ind in CATALOGUE])
    return frame[
        [
            "code",
            "name",
            "domain",
            "area",
            "clinical_priority",
            "value_type",
            "polarity",
            "frequency",
            "unit",
            "multiplier",
            "short_name",
            "definition",
        ]
    ]
