"""Tests for iaf.stats.peers: published lists, nearest neighbours, why-peers, peer groups."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from iaf.errors import InputError
from iaf.stats.peers import nearest_neighbours, peer_groups, peers_from_list, why_peers

TOL = 1e-9
SIMILAR_COLS = [f"similar_ccg_{i}" for i in range(1, 11)]


@pytest.fixture(scope="module")
def rightcare(real_dir):
    # NHS RightCare "10 most similar CCGs", April 2016 (see lookups/PROVENANCE.md).
    return pd.read_csv(real_dir / "lookups" / "ccg16_codes_names_similar10.csv", dtype=str)


def test_peers_from_list_real_rightcare_wide(rightcare):
    peers = peers_from_list(rightcare, code="CCG16CDH", peers_col=SIMILAR_COLS)
    assert len(peers) == 209
    assert {len(p) for p in peers.values()} == {10}
    # first row of the file: NHS Airedale, Wharfedale and Craven CCG
    assert peers["02N"] == ["02T", "10A", "05D", "09C", "03E", "07H", "04Q", "06M", "05T", "04H"]
    assert set().union(*peers.values()) <= set(peers)


def test_peers_from_list_real_rightcare_semicolon(rightcare):
    joined = rightcare.assign(peers=rightcare[SIMILAR_COLS].agg(" ; ".join, axis=1))
    wide = peers_from_list(rightcare, code="CCG16CDH", peers_col=SIMILAR_COLS)
    assert peers_from_list(joined, code="CCG16CDH") == wide


def test_peers_from_list_blank_and_missing():
    areas = pd.DataFrame({"code": ["A", "B", "C"], "peers": ["B;C;", None, " A "]})
    assert peers_from_list(areas) == {"A": ["B", "C"], "B": [], "C": ["A"]}


@pytest.mark.parametrize(
    ("areas", "message"),
    [
        (pd.DataFrame({"code": ["A", "A"], "peers": ["B", "B"]}), r"repeats area codes .*: A"),
        (pd.DataFrame({"code": ["A", "B"], "peers": ["A;B", "A"]}), r"own peer for 1 areas: A"),
        (pd.DataFrame({"code": ["A"]}), r"needs column\(s\) 'peers'"),
    ],
    ids=["duplicate-code", "self-peer", "missing-column"],
)
def test_peers_from_list_validation(areas, message):
    with pytest.raises(InputError, match=message):
        peers_from_list(areas)


# Hand-computed example. x = (0, 1, 3, 7), y constant: mean 2.75, sample SD = sqrt(86.75/3);
# z-distances are |Δx| / SD, so the nearest neighbours follow |Δx|:
#   A(0): B(1), C(3);  B(1): A(1), C(2);  C(3): B(2), A(3);  D(7): C(4), B(6).
AREAS = pd.DataFrame({"code": ["D", "B", "A", "C"], "x": [7.0, 1, 0, 3], "y": [5.0, 5, 5, 5]})
SD = np.sqrt(((np.array([0, 1, 3, 7]) - 2.75) ** 2).sum() / 3)


def test_nearest_neighbours_hand_computed():
    out = nearest_neighbours(AREAS, ["x", "y"], k=2)
    got = {a: list(g.sort_values("rank")["peer"]) for a, g in out.groupby("area")}
    assert got == {"A": ["B", "C"], "B": ["A", "C"], "C": ["B", "A"], "D": ["C", "B"]}
    dist = out.set_index(["area", "peer"])["distance"]
    assert dist["D", "C"] == pytest.approx(4 / SD, abs=TOL)
    assert dist["A", "C"] == pytest.approx(3 / SD, abs=TOL)
    assert list(out.columns) == ["area", "peer", "rank", "distance"]


def test_nearest_neighbours_ties_broken_by_code():
    # Z and A are equally far from M (on either side); A wins the tie by code, then Z.
    areas = pd.DataFrame({"code": ["Z", "M", "A", "Q"], "x": [0.0, 1, 2, 9]})
    out = nearest_neighbours(areas, ["x"], k=2)
    assert list(out.loc[out["area"] == "M", "peer"]) == ["A", "Z"]


def test_nearest_neighbours_excludes_self_and_caps_k():
    out = nearest_neighbours(AREAS, ["x"], k=10)
    assert (out["area"] != out["peer"]).all()
    assert out.groupby("area").size().eq(3).all()


def test_nearest_neighbours_weights_change_ranking():
    areas = pd.DataFrame({"code": ["A", "B", "C"], "x": [0.0, 1, 0], "y": [0.0, 0, 1]})
    by_x = nearest_neighbours(areas, ["x", "y"], k=1, weights={"x": 10.0})
    assert by_x.set_index("area").loc["A", "peer"] == "C"
    by_y = nearest_neighbours(areas, ["x", "y"], k=1, weights={"y": 10.0})
    assert by_y.set_index("area").loc["A", "peer"] == "B"


def test_nearest_neighbours_matches_brute_force_large():
    rng = np.random.default_rng(2)
    n = 700
    areas = pd.DataFrame(
        {
            "code": [f"C{i:04d}" for i in rng.permutation(n)],
            "pop": rng.integers(1, 4, n).astype(float),
            "age": rng.normal(size=n).round(1),
        }
    )
    out = nearest_neighbours(areas, ["pop", "age"], k=10)
    z = (areas[["pop", "age"]] - areas[["pop", "age"]].mean()) / areas[["pop", "age"]].std()
    zs, codes = z.to_numpy(), areas["code"].to_numpy()
    for i in rng.choice(n, 25, replace=False):
        d = np.round(np.sqrt(((zs - zs[i]) ** 2).sum(axis=1)), 12)
        d[i] = np.inf
        expected = list(codes[np.lexsort((codes, d))[:10]])
        assert list(out.loc[out["area"] == codes[i], "peer"]) == expected


@pytest.mark.parametrize(
    ("areas", "kwargs", "message"),
    [
        (AREAS.assign(x=[1.0, np.nan, 2, 3]), {}, r"column 'x' is missing or non-numeric .*: B"),
        (AREAS, {"k": 0}, "k must be a positive whole number"),
        (AREAS, {"weights": {"z": 1.0}}, "weights name variables not in the list: z"),
    ],
    ids=["nan-variable", "k=0", "unknown-weight"],
)
def test_nearest_neighbours_validation(areas, kwargs, message):
    with pytest.raises(InputError, match=message):
        nearest_neighbours(areas, ["x", "y"], **kwargs)


def test_why_peers_panel():
    out = why_peers(AREAS, "D", ["C", "B"], ["x", "y"])
    assert list(out["code"]) == ["D", "D", "C", "C", "B", "B"]
    assert list(out["role"]) == ["area", "area", "peer", "peer", "peer", "peer"]
    z = out.set_index(["code", "variable"])["z_score"]
    assert z["D", "x"] == pytest.approx((7 - 2.75) / SD, abs=TOL)
    assert z["C", "y"] == 0.0  # a constant variable contributes nothing
    dist = out.groupby("code")["distance"].first()
    assert dist["C"] == pytest.approx(4 / SD, abs=TOL)
    assert dist["D"] == 0.0
    # contributions add up to the squared distance
    total = out.groupby("code")["contribution"].sum()
    assert total["B"] == pytest.approx(dist["B"] ** 2, abs=TOL)
    nn = nearest_neighbours(AREAS, ["x", "y"], k=2).query("area == 'D'")
    assert list(nn["distance"]) == pytest.approx([dist["C"], dist["B"]], abs=TOL)


def test_why_peers_unknown_area():
    with pytest.raises(InputError, match=r"no row for 1 of the requested areas: X"):
        why_peers(AREAS, "D", ["X"], ["x"])


def test_peer_groups_region_and_stp():
    areas = AREAS.assign(region=["N", "S", "N", "S"], stp=["s1", "s1", "s1", "s2"])
    assert peer_groups(areas, "region") == {"D": ["A"], "B": ["C"], "A": ["D"], "C": ["B"]}
    assert peer_groups(areas, "stp") == {"D": ["A", "B"], "B": ["A", "D"], "A": ["B", "D"], "C": []}


def test_peer_groups_similar10_prefers_published_list(rightcare):
    groups = peer_groups(rightcare, "similar10", code="CCG16CDH", peers_col=SIMILAR_COLS)
    assert groups == peers_from_list(rightcare, code="CCG16CDH", peers_col=SIMILAR_COLS)


def test_peer_groups_similar10_computed_without_list():
    areas = AREAS.rename(columns={"x": "population"})
    groups = peer_groups(areas, "similar10", variables=["y"], k=2)
    assert groups == {"D": ["C", "B"], "B": ["A", "C"], "A": ["B", "C"], "C": ["B", "A"]}


def test_peer_groups_similar10_without_population_uses_the_other_characteristics():
    # An areas table with deprivation etc. but no population column: before, an InputError.
    groups = peer_groups(AREAS, "similar10", variables=["x", "y"], k=2)
    nn = nearest_neighbours(AREAS, ["x", "y"], k=2)
    assert groups == nn.groupby("area", sort=False)["peer"].agg(list).to_dict()
    with pytest.raises(InputError, match="population"):  # nothing at all to measure by
        peer_groups(AREAS[["code"]], "similar10")


def test_peer_groups_unknown_kind():
    with pytest.raises(InputError, match="kind must be one of region, stp, similar10"):
        peer_groups(AREAS, "ics")
