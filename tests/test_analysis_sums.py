"""The comparators' sums, counted where counting is exact, against pandas' grouped sums.

pandas adds each group's values in row order with Kahan compensation; ``_comparators`` counts
whole numbers (exact in any order) and leaves everything else to pandas, so every figure must
equal, to the bit, what one pandas groupby per comparator gives (``_group_sums``, kept for the
peer groups).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from iaf import analysis as A


def _keys_and_rows(seed: int, fractional: bool):
    rng = np.random.default_rng(seed)
    n_ind, n_area, n_period = 4, 30, 5
    ind, area, period = (
        a.ravel().astype(np.int32)
        for a in np.meshgrid(
            np.arange(n_ind), np.arange(n_area), np.arange(n_period), indexing="ij"
        )
    )
    keep = rng.random(ind.size) > 0.1  # some areas lack some periods
    ind, area, period = ind[keep], area[keep], period[keep]
    k = A._Keys(
        ind,
        np.array([f"I{i}" for i in range(n_ind)], dtype=object),
        area,
        np.array([f"A{i:02d}" for i in range(n_area)], dtype=object),
        period,
        np.array([f"P{i}" for i in range(n_period)], dtype=object),
    )
    n = k.n
    num = rng.integers(0, 50, n).astype(float)
    den = num + rng.integers(1, 80, n)
    value = rng.normal(50, 20, n)
    if fractional:
        den[k.ind == 1] *= 1.37  # expected counts: not whole numbers
    num[rng.random(n) < 0.1] = np.nan
    den[rng.random(n) < 0.05] = np.nan
    value[rng.random(n) < 0.1] = np.nan
    live = rng.random(n) > 0.1
    region_of_area = rng.integers(0, 3, n_area)  # label 0 is blank
    stp_of_area = region_of_area * 2 + rng.integers(0, 2, n_area)
    groups = {  # as analysis._area_attrs gives them: per row, labels, per area
        "region": (
            region_of_area[area].astype(np.int32),
            np.array(["", "R1", "R2"], object),
            region_of_area,
        ),
        "stp": (
            stp_of_area[area].astype(np.int32),
            np.array(["", "S1", "S2", "S3", "S4", "S5"], object),
            stp_of_area,
        ),
    }
    vtype = np.array([0, 2, 1, -1], dtype=np.int8)  # proportion, ratio, rate, a score
    mult = np.array([100.0, 1.0, 1000.0, 1.0])
    names = np.array(["proportion", "ratio", "rate", "score"], dtype=object)
    return k, live, num, den, value, vtype, mult, groups, names


@pytest.mark.parametrize("fractional", [False, True], ids=["whole", "fractional"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_comparator_sums_are_pandas_sums_to_the_bit(seed: int, fractional: bool) -> None:
    k, live, num, den, value, vtype, mult, groups, names = _keys_and_rows(seed, fractional)
    frame, per_row = A._comparators(k, live, num, den, value, vtype, mult, groups, names)
    n_ip = len(k.ind_labels) * len(k.period_labels)
    for kind in ("england", "region", "stp"):
        if kind == "england":
            gcode, glabels = np.zeros(k.n, dtype=np.int64), np.array(["England"], object)
        else:
            gcode, glabels, _ = groups[kind]
        nonblank = glabels != ""
        gid = gcode.astype(np.int64) * n_ip + k.ip
        agg = A._group_sums(gid, live & nonblank[gcode], num, den, value)
        ind = agg.index.to_numpy() % n_ip // len(k.period_labels)
        want = A._comparator_value(agg, vtype[ind], mult[ind])
        got = frame[frame["comparator"] == kind]
        for col in ("num", "den"):
            np.testing.assert_array_equal(got[col].to_numpy(), agg[col].to_numpy())
        np.testing.assert_array_equal(got["n_areas"].to_numpy(), agg["n_areas"].to_numpy())
        np.testing.assert_array_equal(got["value"].to_numpy(), want)
        dense = np.full(len(glabels) * n_ip, np.nan)
        dense[agg.index.to_numpy()] = want
        np.testing.assert_array_equal(per_row[kind], np.where(nonblank[gcode], dense[gid], np.nan))
        assert got["value"].notna().any()
    assert not pd.isna(frame["indicator"]).any()
