"""Deterministic datasets with the canonical dtypes, built without Python loops over rows."""

from __future__ import annotations

import numpy as np
import pandas as pd

from iaf.catalogue import CATALOGUE, Indicator
from iaf.model import CATEGORY_COLUMNS, Dataset


def _categorical(codes: np.ndarray, labels: list[str]) -> pd.Categorical:
    # The model types categories as pandas "string" (see iaf.model._typed).
    dtype = pd.CategoricalDtype(pd.Index(labels, dtype="string"))
    return pd.Categorical.from_codes(codes, dtype=dtype)


def make_values(seed: int, rows: int) -> pd.DataFrame:
    """``rows`` rows of the canonical values table, different for each ``seed``."""
    rng = np.random.default_rng(seed)
    n_areas, n_periods = 200, 40
    area = rng.integers(0, n_areas, rows)
    ind = rng.integers(0, len(CATALOGUE), rows)
    period = rng.integers(0, n_periods, rows)
    start = np.datetime64("2013-04-01", "s") + (period * 91).astype("timedelta64[D]")
    den = rng.integers(1, 5000, rows).astype("float64")
    num = np.floor(den * rng.random(rows))
    value = num / den * 100
    suppressed = rng.random(rows) < 0.05
    value[suppressed] = np.nan
    frame = pd.DataFrame(
        {
            "area_code": _categorical(area, [f"{i:02d}X" for i in range(n_areas)]),
            "indicator": _categorical(ind, [i.code for i in CATALOGUE]),
            "period": _categorical(period, [f"Q{i}" for i in range(n_periods)]),
            "period_type": _categorical(np.zeros(rows, dtype=int), ["quarter"]),
            "period_start": start,
            "period_end": start + np.timedelta64(90, "D"),
            "numerator": num,
            "denominator": den,
            "value": value,
            "lower_95": value * 0.9,
            "upper_95": value * 1.1,
            "lower_998": value * 0.8,
            "upper_998": value * 1.2,
            "note": _categorical(rng.integers(0, 2, rows), ["", f"seed {seed}"]),
            "suppressed": suppressed,
        }
    )
    assert all(isinstance(frame[c].dtype, pd.CategoricalDtype) for c in CATEGORY_COLUMNS)
    return frame


def make_dataset(seed: int, rows: int = 50) -> Dataset:
    values = make_values(seed, rows)
    codes = values["area_code"].cat.categories
    areas = pd.DataFrame(
        {
            "code": codes,
            "name": ("Area " + pd.Series(codes, dtype="string")).astype("string"),
            "population": np.arange(len(codes), dtype="float64") * 1000 + seed,
        }
    )
    extra = Indicator(
        code=f"X{seed}",
        name=f"Local indicator {seed}",
        short_name="Local",
        domain="Better Care",
        area="Local",
        clinical_priority=None,
        value_type="proportion",
        unit="%",
        multiplier=100,
        polarity="higher_is_better",
        frequency="quarterly",
        definition="A locally defined indicator.",
    )
    return Dataset(
        values=values,
        areas=areas,
        name=f"dataset {seed}",
        source=f"seed {seed}",
        synthetic=seed % 2 == 0,
        boundaries={"type": "FeatureCollection", "features": [], "seed": seed},
        extra_indicators=(extra,),
    )
