"""View functions on the demo data where no page test reaches: peers from what areas have,
and how finely the funnel's limit lines are drawn."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from iaf import demo, views
from iaf.analysis import analyse


@pytest.fixture(scope="module")
def demo_data():
    return demo.generate()


def _without(ds, columns: list[str]):
    return dataclasses.replace(ds, areas=ds.areas.drop(columns=columns))


def test_similar10_from_characteristics_when_there_is_no_population(demo_data) -> None:
    ds = _without(demo_data, ["population", "peers"])
    area = str(ds.areas["code"].iloc[0])
    peers = views.peer_set(ds, analyse(ds), area=area, kind="similar10")
    assert len(peers["peers"]) == 10 and area not in peers["peers"]
    assert "imd_score" in peers["explanation"] and "population" not in peers["explanation"]


def test_similar10_explains_when_there_is_nothing_to_measure_by(demo_data) -> None:
    numeric = ["population", "peers", "imd_score", "over65_pct", "rurality"]
    ds = _without(demo_data, numeric)
    area = str(ds.areas["code"].iloc[0])
    peers = views.peer_set(ds, analyse(ds), area=area, kind="similar10")
    assert peers["peers"] == ()
    assert "no published similar-10 list" in peers["explanation"]
    assert "same region, STP or hand-picked" in peers["explanation"]


def test_funnel_limit_lines_are_drawn_within_half_a_pixel_of_the_exact_curve(
    demo_data, monkeypatch
) -> None:
    """The limit lines are straight segments between ``FUNNEL_LINE_POINTS`` points of the
    geometric grid (fewer points: a quicker redraw). Against a 1,000-point grid, on the live
    chart's 460 px plot and its y range, no visible part of any line of the demo's latest
    funnels is half a pixel out."""
    from iaf import charts

    result = analyse(demo_data)
    worst = 0.0
    for ind in demo_data.indicators():
        periods = views.indicator_periods_view(demo_data, result, indicator=ind.code)
        fv = views.funnel_view(demo_data, result, indicator=ind.code, period=periods[-1])
        if "reason" in fv:
            continue
        with monkeypatch.context() as m:
            m.setattr(views, "FUNNEL_LINE_POINTS", 1000)
            fine = views.funnel_view(demo_data, result, indicator=ind.code, period=periods[-1])
        coarse, exact = fv["limits"], fine["limits"]
        assert len(coarse) == views.FUNNEL_LINE_POINTS and len(exact) == 1000
        lo, hi = charts._funnel_domain(fv["points"], coarse, fv["target"], ind)
        x = exact["denominator"].to_numpy()
        for col in ("lower_95", "upper_95", "lower_998", "upper_998"):
            drawn = np.interp(x, coarse["denominator"].to_numpy(), coarse[col].to_numpy())
            true = exact[col].to_numpy()
            visible = (true >= lo) & (true <= hi)
            off = np.abs(drawn - true)[visible] / (hi - lo) * 460
            worst = max(worst, float(off.max(initial=0.0)))
    assert 0 < worst < 0.5, f"a limit line is drawn {worst:.2f} px from the exact curve"
