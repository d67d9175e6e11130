"""The whole-dataset analysis' own routes through the SPC and recent-trend calculations (rows
already sorted into runs, checks already made) give what the public functions give."""

import numpy as np
import pandas as pd
import pytest

from iaf import analysis
from iaf.stats import trend


def _sorted_rows(seed: int) -> tuple[pd.DataFrame, analysis._Keys]:
    """Rows sorted by indicator, area and period end, as analyse holds them: series of 1 to 20
    points, missing and suppressed points, proportions of 0 and 1, a proportion whose value or
    limits are missing while its counts are not, and every value type and polarity."""
    rng = np.random.default_rng(seed)
    types = ["proportion", "rate", "ratio"]
    polarities = list(trend.POLARITIES)
    rows = []
    for ind in range(6):
        for area in range(40):
            length = int(rng.choice([1, 4, 5, 6, 12, 20]))
            for period in range(length):
                den = float(rng.integers(1, 200))
                num = float(rng.choice([0.0, den, rng.integers(0, den + 1)]))
                value = num / den * 100
                half = rng.uniform(0.5, 5)
                rows.append((ind, area, period, num, den, value, value - half, value + half))
    ind, area, period, num, den, value, lower, upper = (
        np.array(c) for c in zip(*rows, strict=True)
    )
    n = len(ind)
    for column in (num, value, lower, upper):
        column[rng.random(n) < 0.05] = np.nan
    ind_labels = np.array([f"I{i}" for i in range(6)])
    area_labels = np.array([f"A{a:02d}" for a in range(40)])
    period_labels = np.array([f"P{p:02d}" for p in range(20)])

    def categorical(codes: np.ndarray, labels) -> pd.Categorical:
        return pd.Categorical.from_codes(codes, categories=pd.Index(list(labels), dtype="str"))

    results = pd.DataFrame(
        {
            "indicator": categorical(ind, ind_labels),
            "area_code": categorical(area, area_labels),
            "period_end": pd.to_datetime("2020-01-01") + pd.to_timedelta(period * 91, unit="D"),
            "numerator": num,
            "denominator": den,
            "value": value,
            "lower_95": lower,
            "upper_95": upper,
            "suppressed": rng.random(n) < 0.05,
            "value_type": categorical(ind % 3, types),
            "polarity": categorical(ind % 3, polarities),
        }
    )
    keys = analysis._Keys(ind, ind_labels, area, area_labels, period, period_labels)
    return results, keys


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_recent_trend_from_runs_equals_fingertips_recent_trend(seed: int) -> None:
    results, keys = _sorted_rows(seed)
    fast = analysis._recent_trend_block(results, keys, 0, len(results))
    public = trend.fingertips_recent_trend(
        results,
        series=["indicator", "area_code"],
        order="period_end",
        value_type="value_type",
        polarity="polarity",
        value="value",
        lower_ci="lower_95",
        upper_ci="upper_95",
        suppressed="suppressed",
    )
    assert fast is not None
    assert set(public["reason"]) >= {"fewer than 5 points (1 available)"}
    pd.testing.assert_frame_equal(fast, public, check_exact=True)


def test_recent_trend_from_runs_leaves_bad_rows_to_the_public_function() -> None:
    results, keys = _sorted_rows(0)
    results.loc[3, "numerator"] = results.loc[3, "denominator"] + 1
    assert analysis._recent_trend_block(results, keys, 0, len(results)) is None


def test_spc_from_runs_equals_xmr_route() -> None:
    results, keys = _sorted_rows(3)
    end = results["period_end"].to_numpy()
    value = results["value"].to_numpy()
    polarity = results["polarity"].cat.codes.to_numpy().astype(np.int8)
    options = analysis.Options()
    runs = analysis._spc(keys, end, value, polarity, options)
    # periods that are not datetimes send every direction through xmr itself
    via_xmr = analysis._spc(keys, end.view(np.int64), value, polarity, options)
    for got, want in zip(runs, via_xmr, strict=True):
        np.testing.assert_array_equal(got, want)
