"""Peer groups for benchmarking: published lists, nearest neighbours, region and STP.

The "similar 10" idea follows NHS RightCare's "10 most similar CCGs" and CIPFA's nearest
neighbours model: standardise each characteristic across all areas (z-scores), measure the
(optionally weighted) Euclidean distance between areas, and take the k closest. RightCare's
own lists use a published set of demographic variables and weights; where an area list carries
them (``peers_from_list``) we use them as published, and ``nearest_neighbours`` computes peers
from whatever characteristics the caller supplies.

References
----------
NHS RightCare. "Similar 10 CCG explorer tool" / "Commissioning for Value: methodology" — for each
    CCG the 10 CCGs most similar on standardised demographic characteristics (Euclidean distance
    on z-scores).
CIPFA. "Nearest Neighbours Model" — weighted Euclidean distance on standardised socio-economic
    indicators, ranking the closest authorities.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from iaf.errors import InputError

__all__ = ["nearest_neighbours", "peer_groups", "peers_from_list", "why_peers"]

PEER_KINDS = ("region", "stp", "similar10")
_CHUNK_ELEMENTS = 4_000_000  # rows × areas × variables per distance block
_TIE_DECIMALS = 12


def _require_columns(areas: pd.DataFrame, cols: Sequence[str], what: str) -> None:
    if not isinstance(areas, pd.DataFrame):
        raise InputError(f"{what} needs a pandas DataFrame, got {type(areas).__name__}.")
    missing = [c for c in cols if c not in areas.columns]
    if missing:
        raise InputError(
            f"{what} needs column(s) {', '.join(map(repr, missing))}, which the frame lacks "
            f"(it has {', '.join(map(str, areas.columns))})."
        )


def _list_codes(values: pd.Series, limit: int = 5) -> str:
    shown = [str(v) for v in values.head(limit)]
    more = len(values) - len(shown)
    return ", ".join(shown) + (f" and {more} more" if more > 0 else "")


def _unique_codes(areas: pd.DataFrame, code: str, what: str) -> pd.Series:
    codes = areas[code]
    missing = codes.isna()
    if missing.any():
        raise InputError(
            f"{what}: column {code!r} is missing in {int(missing.sum())} rows "
            f"(row positions {_list_codes(pd.Series(np.flatnonzero(missing)))})."
        )
    dup = codes.duplicated(keep=False)
    if dup.any():
        raise InputError(
            f"{what}: column {code!r} repeats area codes in {int(dup.sum())} rows: "
            f"{_list_codes(codes[dup].drop_duplicates())}."
        )
    return codes.astype(str)


def peers_from_list(
    areas: pd.DataFrame, code: str = "code", peers_col: str | Sequence[str] = "peers"
) -> dict[str, list[str]]:
    """Published peer lists: area code → peer codes in the published (closest-first) order.

    ``peers_col`` is either one column of ';'-separated codes, or several columns holding one peer
    each (RightCare's ``similar_ccg_1`` … ``similar_ccg_10``). Blank entries are skipped;
    surrounding whitespace is ignored.
    """
    what = "peers_from_list"
    cols = [peers_col] if isinstance(peers_col, str) else list(peers_col)
    _require_columns(areas, [code, *cols], what)
    codes = _unique_codes(areas, code, what)
    if len(cols) == 1:
        cells = areas[cols[0]].astype("str").fillna("").str.split(";")
    else:
        cells = pd.Series(areas[cols].astype("str").fillna("").to_numpy().tolist())
    out: dict[str, list[str]] = {}
    for area, items in zip(codes, cells, strict=True):
        peers = [p.strip() for p in items if p is not None and p.strip()]
        out[area] = peers
    self_listed = [a for a, peers in out.items() if a in peers]
    if self_listed:
        raise InputError(
            f"{what}: column(s) {', '.join(cols)} list an area as its own peer for "
            f"{len(self_listed)} areas: {_list_codes(pd.Series(self_listed))}."
        )
    return out


def _z_scores(areas: pd.DataFrame, variables: Sequence[str], code: str, what: str) -> np.ndarray:
    """Standardise each variable across all areas (sample SD); a constant variable scores 0."""
    _require_columns(areas, [code, *variables], what)
    if not variables:
        raise InputError(f"{what}: give at least one characteristic variable.")
    values = np.empty((len(areas), len(variables)))
    for j, var in enumerate(variables):
        col = pd.to_numeric(areas[var], errors="coerce")
        bad = col.isna()
        if bad.any():
            raise InputError(
                f"{what}: column {var!r} is missing or non-numeric for {int(bad.sum())} areas: "
                f"{_list_codes(areas.loc[bad, code])}."
            )
        values[:, j] = col.to_numpy(dtype=float)
    mean = values.mean(axis=0)
    sd = values.std(axis=0, ddof=1) if len(values) > 1 else np.zeros(len(variables))
    with np.errstate(invalid="ignore", divide="ignore"):
        z = (values - mean) / sd
    return np.where(sd > 0, z, 0.0)


def _weights(
    variables: Sequence[str], weights: Mapping[str, float] | None, what: str
) -> np.ndarray:
    if weights is None:
        return np.ones(len(variables))
    unknown = sorted(set(weights) - set(variables))
    if unknown:
        raise InputError(f"{what}: weights name variables not in the list: {', '.join(unknown)}.")
    w = np.array([float(weights.get(v, 1.0)) for v in variables])
    if (w < 0).any() or not np.isfinite(w).all():
        raise InputError(f"{what}: weights must be finite and non-negative, got {dict(weights)}.")
    return w


def _distance_rows(z: np.ndarray, rows: slice, w: np.ndarray) -> np.ndarray:
    diff = z[rows, None, :] - z[None, :, :]
    return np.sqrt((w * diff * diff).sum(axis=2))


def _k_smallest(d: np.ndarray, code_rank: np.ndarray, k: int) -> np.ndarray:
    """Column indices of each row's k smallest d, ties broken by code rank.

    Partition to a few more than k candidates and sort those by (distance, code); a row with
    ties at the k-th distance left outside the candidates is sorted in full.
    """
    n_cols = d.shape[1]
    m = min(n_cols, k + 8)
    if m < n_cols:
        cand = np.argpartition(d, m - 1, axis=1)[:, :m]
    else:
        cand = np.tile(np.arange(n_cols), (d.shape[0], 1))
    cd = np.take_along_axis(d, cand, axis=1)
    order = np.lexsort((code_rank[cand], cd), axis=1)
    cand = np.take_along_axis(cand, order, axis=1)[:, :k]
    kth = np.take_along_axis(cd, order, axis=1)[:, k - 1 : k]
    spill = (d <= kth).sum(axis=1) > (cd <= kth).sum(axis=1)
    if spill.any():
        tie = np.broadcast_to(code_rank, (int(spill.sum()), n_cols))
        cand[spill] = np.lexsort((tie, d[spill]), axis=1)[:, :k]
    return cand


def nearest_neighbours(
    areas: pd.DataFrame,
    variables: Sequence[str],
    k: int = 10,
    code: str = "code",
    weights: Mapping[str, float] | None = None,
) -> pd.DataFrame:
    """The k most similar areas to each area: Euclidean distance on z-standardised variables.

    Each variable is standardised across all areas ((x − mean) / sample SD; a constant variable
    contributes nothing). Distance is sqrt(Σ w_v (z_v,a − z_v,b)²), with weights 1 unless given.
    The area itself is excluded; ties in distance are broken by peer code, so the result is
    deterministic. k is capped at the number of other areas.

    Returns a long frame: ``area``, ``peer``, ``rank`` (1 = closest), ``distance``.

    References
    ----------
    NHS RightCare similar-10 methodology; CIPFA Nearest Neighbours Model.
    """
    what = "nearest_neighbours"
    if isinstance(variables, str):
        variables = [variables]
    variables = list(variables)
    if not isinstance(k, int | np.integer) or k < 1:
        raise InputError(f"{what}: k must be a positive whole number, got {k!r}.")
    z = _z_scores(areas, variables, code, what)
    codes = _unique_codes(areas, code, what).to_numpy()
    w = _weights(variables, weights, what)
    n = len(codes)
    k = min(int(k), n - 1)
    if k < 1:
        return pd.DataFrame(
            {
                "area": pd.array([], dtype="str"),
                "peer": pd.array([], dtype="str"),
                "rank": np.array([], dtype=int),
                "distance": np.array([], dtype=float),
            }
        )
    code_rank = np.argsort(np.argsort(codes, kind="stable"), kind="stable")
    step = max(1, _CHUNK_ELEMENTS // max(1, n * len(variables)))
    peer_idx = np.empty((n, k), dtype=int)
    peer_dist = np.empty((n, k))
    for start in range(0, n, step):
        rows = slice(start, min(start + step, n))
        d = _distance_rows(z, rows, w)
        d[np.arange(d.shape[0]), np.arange(rows.start, rows.stop)] = np.inf
        # Distances equal up to rounding noise (1e-12 in z units) count as ties, which the
        # peer code breaks; lexsort's last key is primary.
        order = _k_smallest(np.round(d, _TIE_DECIMALS), code_rank, k)
        peer_idx[rows] = order
        peer_dist[rows] = np.take_along_axis(d, order, axis=1)
    return pd.DataFrame(
        {
            "area": pd.array(np.repeat(codes, k), dtype="str"),
            "peer": pd.array(codes[peer_idx.ravel()], dtype="str"),
            "rank": np.tile(np.arange(1, k + 1), n),
            "distance": peer_dist.ravel(),
        }
    )


def why_peers(
    areas: pd.DataFrame,
    area: str,
    peers: Sequence[str],
    variables: Sequence[str],
    code: str = "code",
    weights: Mapping[str, float] | None = None,
) -> pd.DataFrame:
    """Why these peers? Each variable's value and z-score for the area and each of its peers.

    z-scores are standardised across all of ``areas`` (as in :func:`nearest_neighbours`), and each
    peer's distance to the area is given. Long frame: ``code``, ``role`` ("area" or "peer"),
    ``rank`` (0 for the area, then 1.. in the order given), ``distance``, ``variable``,
    ``value``, ``z_score``, ``contribution`` (w (z_peer − z_area)², whose sum is distance²).
    """
    what = "why_peers"
    variables = [variables] if isinstance(variables, str) else list(variables)
    z = _z_scores(areas, variables, code, what)
    codes = _unique_codes(areas, code, what)
    w = _weights(variables, weights, what)
    position = pd.Series(np.arange(len(codes)), index=codes.to_numpy())
    wanted = [str(area), *map(str, peers)]
    unknown = [c for c in wanted if c not in position.index]
    if unknown:
        raise InputError(
            f"{what}: column {code!r} has no row for {len(unknown)} of the requested areas: "
            f"{_list_codes(pd.Series(unknown))}."
        )
    idx = position.loc[wanted].to_numpy()
    zs = z[idx]
    contribution = w * (zs - zs[0]) ** 2
    distance = np.sqrt(contribution.sum(axis=1))
    raw = areas[variables].apply(pd.to_numeric).to_numpy(dtype=float)[idx]
    n_vars = len(variables)
    return pd.DataFrame(
        {
            "code": pd.array(np.repeat(wanted, n_vars), dtype="str"),
            "role": pd.array(np.repeat(["area"] + ["peer"] * len(peers), n_vars), dtype="str"),
            "rank": np.repeat(np.arange(len(wanted)), n_vars),
            "distance": np.repeat(distance, n_vars),
            "variable": pd.array(np.tile(variables, len(wanted)), dtype="str"),
            "value": raw.ravel(),
            "z_score": zs.ravel(),
            "contribution": contribution.ravel(),
        }
    )


def _same_group(areas: pd.DataFrame, code: str, group: str, what: str) -> dict[str, list[str]]:
    _require_columns(areas, [code, group], what)
    codes = _unique_codes(areas, code, what)
    missing = areas[group].isna().to_numpy()
    if missing.any():
        raise InputError(
            f"{what}: column {group!r} is missing for {int(missing.sum())} areas: "
            f"{_list_codes(codes[missing])}."
        )
    frame = pd.DataFrame({"code": codes.to_numpy(), "group": areas[group].astype(str).to_numpy()})
    members = frame.sort_values("code").groupby("group")["code"].agg(list)
    return {
        a: [c for c in members[g] if c != a]
        for a, g in zip(frame["code"], frame["group"], strict=True)
    }


def peer_groups(
    areas: pd.DataFrame,
    kind: str,
    *,
    code: str = "code",
    region: str = "region",
    stp: str = "stp",
    peers_col: str | Sequence[str] = "peers",
    population: str = "population",
    variables: Sequence[str] = (),
    k: int = 10,
) -> dict[str, list[str]]:
    """Peer group of each area: area code → peer codes (the area itself excluded).

    kind
        "region" or "stp": the other areas sharing the area's region / STP, in code order.
        "similar10": the published list in ``peers_col`` when that column (or those columns)
        exist and have an entry for every area; otherwise the ``k`` nearest neighbours on
        ``population`` plus any numeric characteristic ``variables`` given, closest first.
    """
    what = "peer_groups"
    if kind == "region":
        return _same_group(areas, code, region, what)
    if kind == "stp":
        return _same_group(areas, code, stp, what)
    if kind != "similar10":
        raise InputError(f"{what}: kind must be one of {', '.join(PEER_KINDS)}, got {kind!r}.")
    cols = [peers_col] if isinstance(peers_col, str) else list(peers_col)
    if all(c in areas.columns for c in cols):
        published = peers_from_list(areas, code=code, peers_col=peers_col)
        if all(published.values()):
            return published
    chars = [population] if population in areas.columns or not variables else []
    chars += [v for v in variables if v != population]
    nn = nearest_neighbours(areas, chars, k=k, code=code)
    grouped = nn.groupby("area", sort=False)["peer"].agg(list)
    return {str(a): grouped.get(str(a), []) for a in _unique_codes(areas, code, what)}
