"""View functions on the demo data where no page test reaches: peers from what areas have."""

from __future__ import annotations

import dataclasses

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
