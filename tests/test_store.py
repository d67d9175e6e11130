"""The dataset store: exact round trips, ids that cannot escape the root, crash and
concurrency safety (real subprocesses killed with SIGKILL, real concurrent writers)."""

from __future__ import annotations

import fcntl
import os
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import FrozenInstanceError, replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from iaf.catalogue import Indicator
from iaf.errors import InputError
from iaf.model import Dataset, validate_areas, validate_values
from iaf.store import CRASH_POINTS, ID_PATTERN, DatasetInfo, Store
from tests.store_helpers import workers
from tests.store_helpers.datasets import make_dataset


# ── Helpers ──────────────────────────────────────────────────────────────────────────
def assert_frames_equal(a: pd.DataFrame, b: pd.DataFrame) -> None:
    """``assert_frame_equal``, with categoricals compared by categories and codes.

    pandas 3.1 compares categoricals with pyarrow-string categories element by element in
    Python (about 40 µs a row), which would make the larger frames here take minutes.
    """
    assert list(a.columns) == list(b.columns)
    cats = [c for c in a.columns if isinstance(a[c].dtype, pd.CategoricalDtype)]
    for c in cats:
        assert isinstance(b[c].dtype, pd.CategoricalDtype), c
        assert a[c].cat.ordered == b[c].cat.ordered, c
        pd.testing.assert_index_equal(a[c].cat.categories, b[c].cat.categories, exact=True)
        np.testing.assert_array_equal(a[c].cat.codes.to_numpy(), b[c].cat.codes.to_numpy())
    pd.testing.assert_frame_equal(a.drop(columns=cats), b.drop(columns=cats))


def assert_same(a: Dataset, b: Dataset) -> None:
    assert_frames_equal(a.values, b.values)
    assert_frames_equal(a.areas, b.areas)
    if a.mergers is None or b.mergers is None:
        assert a.mergers is None and b.mergers is None
    else:
        assert_frames_equal(a.mergers, b.mergers)
    for attr in ("name", "source", "synthetic", "boundaries", "extra_indicators", "area_type"):
        assert getattr(a, attr) == getattr(b, attr), attr


def same(a: Dataset, b: Dataset) -> bool:
    try:
        assert_same(a, b)
    except AssertionError:
        return False
    return True


def assert_one_of(loaded: Dataset, candidates: list[Dataset]) -> None:
    """``loaded`` equals one of ``candidates``; otherwise fail showing how it differs."""
    differences = []
    for c in candidates:
        try:
            assert_same(loaded, c)
        except AssertionError as e:
            differences.append(str(e)[:500])
        else:
            return
    pytest.fail("loaded dataset equals none of the candidates:\n" + "\n".join(differences))


def leftovers(root: Path) -> list[str]:
    """Anything in the store that is neither a current version nor a CURRENT file."""
    found = [f".tmp/{p.name}" for p in (root / ".tmp").iterdir()]
    found += [f".trash/{p.name}" for p in (root / ".trash").iterdir()]
    for ddir in (root / "datasets").iterdir():
        current = (ddir / "CURRENT").read_text().strip() if (ddir / "CURRENT").exists() else None
        keep = {current, "CURRENT"}
        found += [f"{ddir.name}/{p.name}" for p in ddir.iterdir() if p.name not in keep]
    return found


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "store")


@pytest.fixture
def canonical() -> Dataset:
    """A dataset straight from the model's own validation, so the dtypes are the canonical ones."""
    raw = pd.DataFrame(
        {
            "area_code": ["00C", "00D", "00C", "00D"],
            "indicator": ["101a", "101a", "102a", "102a"],
            "period": ["2016/17 Q1", "2016/17 Q2", "2016/17", "2016/17"],
            "numerator": [1, 2, 3, "*"],
            "denominator": [10, 10, 10, 10],
            "note": ["", "revised", "", ""],
        }
    )
    values, _ = validate_values(raw, source="test")
    areas = validate_areas(
        pd.DataFrame({"code": ["00C", "00D"], "name": ["Darlington", None], "imd": [21.5, 30.1]}),
        source="test",
    )
    mergers = pd.DataFrame(
        {
            "old_code": pd.Series(["01A", "01B"], dtype="string"),
            "new_code": pd.Series(["00C", "00C"], dtype="category"),
            "date": pd.to_datetime(["2017-04-01", "2018-04-01"]),
        }
    )
    extra = Indicator("L1", "Local one", "Local", "Better Care", "Local", None, "proportion",
                      "%", 100, "higher_is_better", "quarterly", "Local definition.")  # fmt: skip
    return Dataset(
        values=values,
        areas=areas,
        name="IAF 2016/17 — Q1",
        source="upload.csv",
        synthetic=True,
        boundaries={"type": "FeatureCollection", "features": [{"id": "00C", "n": 1.5}]},
        mergers=mergers,
        extra_indicators=(extra,),
        area_type="ccg",
    )


# ── Round trips ──────────────────────────────────────────────────────────────────────
def test_round_trip_keeps_every_part_and_dtype(store: Store, canonical: Dataset) -> None:
    assert canonical.values["suppressed"].any()  # a suppressed row survives as NaN + True
    info = store.save(canonical, "My data")
    loaded = store.load(info.id)
    pd.testing.assert_frame_equal(loaded.values, canonical.values)
    pd.testing.assert_frame_equal(loaded.areas, canonical.areas)
    pd.testing.assert_frame_equal(loaded.mergers, canonical.mergers)
    assert_same(loaded, canonical)
    assert dict(loaded.values.dtypes) == dict(canonical.values.dtypes)
    assert loaded.values["period_start"].dtype == canonical.values["period_start"].dtype


@pytest.mark.parametrize(
    "change",
    [
        lambda s: s.cat.rename_categories(s.cat.categories.astype("str")),  # str, not string
        lambda s: s.cat.add_categories(["unused"]),
        lambda s: s.cat.as_ordered(),
        lambda s: s.iloc[::-1].reset_index(drop=True),
    ],
    ids=["categories-dtype", "unused-category", "ordered", "codes"],
)
def test_the_fast_frame_comparison_still_sees_categorical_differences(change) -> None:
    frame = make_dataset(1, 20).values
    changed = frame.assign(area_code=change(frame["area_code"]))
    with pytest.raises(AssertionError):
        assert_frames_equal(changed, frame)
    assert_frames_equal(frame, frame.copy())


def test_canonical_dtypes_of_the_helper_dataset_match_the_model() -> None:
    # The crash/concurrency tests use tests.store_helpers.datasets; it must be canonical too.
    raw = pd.DataFrame({"area_code": ["00C"], "indicator": ["101a"], "period": ["2016/17 Q1"],
                        "numerator": [1], "denominator": [2]})  # fmt: skip
    canonical, _ = validate_values(raw, source="test")

    def kinds(frame: pd.DataFrame) -> dict[str, object]:
        return {
            c: (d.categories.dtype, d.ordered) if isinstance(d, pd.CategoricalDtype) else d
            for c, d in frame.dtypes.items()
        }

    assert kinds(make_dataset(1, 5).values) == kinds(canonical)


def test_round_trip_without_optional_parts(store: Store, canonical: Dataset) -> None:
    bare = replace(canonical, boundaries=None, mergers=None, extra_indicators=(), synthetic=False)
    assert_same(store.load(store.save(bare, "bare").id), bare)


@pytest.mark.parametrize(
    "column",
    [
        pd.Series(pd.Categorical(["b", "a", "b"], categories=["c", "b", "a"], ordered=True)),
        pd.Series(["x", None, "z"], dtype="string"),
        pd.Series(["x", None, "z"], dtype=object),
        pd.Series([1, None, 3], dtype="Int64"),
        pd.Series(pd.to_datetime(["2017-01-01", None, "2018-01-01"]).tz_localize("UTC")),
        pd.Series(np.array(["2017-01-01", "NaT", "2018-01-01"], dtype="datetime64[s]")),
        pd.Series([True, False, True]),
        pd.Series([0.1, np.nan, -np.inf]),
    ],
    ids=[
        "ordered-unused-categories",
        "string-NA",
        "object",
        "Int64",
        "tz-aware",
        "seconds",
        "bool",
        "float-nan-inf",
    ],
)
def test_round_trip_of_other_column_dtypes(store: Store, canonical: Dataset,
                                           column: pd.Series) -> None:  # fmt: skip
    mergers = pd.DataFrame({"col": column})
    ds = replace(canonical, mergers=mergers)
    pd.testing.assert_frame_equal(store.load(store.save(ds, "dtypes").id).mergers, mergers)


def test_saving_the_same_name_makes_a_new_version_and_prunes_the_old(store: Store) -> None:
    first = store.save(make_dataset(1), "Quarterly")
    second = store.save(make_dataset(2), "Quarterly")
    assert second.id == first.id
    assert_same(store.load(first.id), make_dataset(2))
    versions = [p for p in (store.root / "datasets" / first.id).iterdir() if p.is_dir()]
    assert len(versions) == 1
    assert [i.id for i in store.list()] == [first.id]


# ── list, delete, restart ────────────────────────────────────────────────────────────
def test_list_describes_each_dataset_and_delete_removes_it(store: Store) -> None:
    assert store.list() == []
    a = store.save(make_dataset(2, rows=30), "Alpha")
    b = store.save(make_dataset(3, rows=40), "Beta")
    listed = store.list()
    assert [i.id for i in listed] == [b.id, a.id]  # newest first
    assert listed[1] == a
    assert (a.rows, a.synthetic, b.rows, b.synthetic) == (30, True, 40, False)
    values = make_dataset(2, rows=30).values
    assert a.areas == values["area_code"].nunique()
    assert a.indicators == values["indicator"].nunique()
    assert a.bytes == sum(p.stat().st_size for p in (store.root / "datasets" / a.id).rglob("*")
                          if p.is_file() and p.name != "CURRENT")  # fmt: skip
    with pytest.raises(FrozenInstanceError):
        a.name = "other"  # type: ignore[misc]

    store.delete(a.id)
    assert [i.id for i in store.list()] == [b.id]
    assert not store.exists(a.id) and store.exists(b.id)
    with pytest.raises(InputError, match="no saved dataset called"):
        store.load(a.id)
    with pytest.raises(InputError, match="no saved dataset called"):
        store.delete(a.id)
    assert leftovers(store.root) == []


def test_saved_datasets_survive_a_restart(tmp_path: Path, canonical: Dataset) -> None:
    info = Store(tmp_path).save(canonical, "Kept")
    reopened = Store(tmp_path)
    assert reopened.list() == [info]
    assert_same(reopened.load(info.id), canonical)
    assert reopened.save(make_dataset(4), "Kept").id == info.id  # same name → same dataset


# ── Ids and names ────────────────────────────────────────────────────────────────────
@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("My data", "my-data"),
        ("../../etc/passwd", "etc-passwd"),
        ("/abs/path", "abs-path"),
        ("Café ñ — Über", "cafe-n-uber"),
        ("***", "dataset"),
        ("x" * 100, "x" * 60),
        ("a" * 59 + " b", "a" * 59),
    ],
)
def test_ids_are_slugs_made_by_the_store(store: Store, name: str, slug: str) -> None:
    info = store.save(make_dataset(1), name)
    assert ID_PATTERN.fullmatch(info.id)
    assert info.id.rsplit("-", 1)[0] == slug
    assert info.name == name  # the name is kept as text, whatever it looks like
    assert (store.root / "datasets" / info.id).parent == store.root / "datasets"
    assert [p.name for p in store.root.iterdir()] != []  # nothing written outside the root
    assert not (store.root.parent / "etc").exists()


def test_two_names_with_one_slug_get_two_ids(store: Store) -> None:
    a, b = store.save(make_dataset(1), "My data"), store.save(make_dataset(2), "my DATA!")
    assert a.id != b.id and a.id[:-9] == b.id[:-9] == "my-data"
    assert_same(store.load(a.id), make_dataset(1))


@pytest.mark.parametrize(
    "bad_id",
    [
        "..",
        "../x",
        "x/../../y",
        "/etc/passwd",
        "my-data-12345678/../../..",
        "my-data-1234567\0",
        "my-data-12345678\n",
        "",
        ".",
        "MY-DATA-12345678",
        "my-data-1234567g",
        "-x-12345678",
        "my-data-12345678",
        12345678,
        None,
    ],
)
def test_malformed_or_unknown_ids_are_refused(store: Store, bad_id: object) -> None:
    store.save(make_dataset(1), "my data")
    for call in (store.load, store.delete):
        with pytest.raises(InputError, match="no saved dataset called"):
            call(bad_id)  # type: ignore[arg-type]
    assert store.exists(bad_id) is False  # type: ignore[arg-type]
    assert len(store.list()) == 1


def test_a_symlink_out_of_the_root_is_refused(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    outside = Store(tmp_path / "elsewhere")
    info = outside.save(make_dataset(1), "secret")
    link = store.root / "datasets" / "evil-12345678"
    link.symlink_to(outside.root / "datasets" / info.id, target_is_directory=True)
    with pytest.raises(InputError, match="no saved dataset called 'evil-12345678'"):
        store.load("evil-12345678")
    with pytest.raises(InputError, match="no saved dataset called"):
        store.delete("evil-12345678")
    assert outside.exists(info.id)


@pytest.mark.parametrize("name", ["", "   ", None, 5, "x" * 201])
def test_bad_names_are_refused(store: Store, name: object) -> None:
    with pytest.raises(InputError, match="name"):
        store.save(make_dataset(1), name)  # type: ignore[arg-type]


def test_a_save_that_fails_leaves_the_previous_version(store: Store) -> None:
    info = store.save(make_dataset(1), "data")
    unserialisable = replace(make_dataset(2), boundaries={"bad": object()})
    with pytest.raises(InputError, match="boundaries"):
        store.save(unserialisable, "data")
    with pytest.raises(InputError, match="Dataset"):
        store.save(make_dataset(2).values, "data")  # type: ignore[arg-type]
    assert_same(store.load(info.id), make_dataset(1))
    assert leftovers(store.root) == []


@pytest.mark.parametrize("file", ["meta.json", "values.parquet", "areas.parquet"])
def test_a_damaged_version_is_reported_not_crashed(store: Store, file: str) -> None:
    info = store.save(make_dataset(1), "data")
    other = store.save(make_dataset(2), "other")
    ddir = store.root / "datasets" / info.id
    version = (ddir / "CURRENT").read_text().strip()
    (ddir / version / file).write_bytes(b"not what was saved")
    with pytest.raises(InputError, match=f"saved dataset '{info.id}' is damaged"):
        store.load(info.id)
    assert other.id in [i.id for i in store.list()]
    store.delete(info.id)
    assert [i.id for i in store.list()] == [other.id]


# ── Crashes ──────────────────────────────────────────────────────────────────────────
@pytest.fixture(scope="module")
def crashed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Store, str]]:
    """One store per crash point: version 1 saved, then a process SIGKILLed while saving v2.

    The processes run side by side to keep the suite fast.
    """
    runs = {}
    for point in CRASH_POINTS:
        store = Store(tmp_path_factory.mktemp(point))
        info = store.save(make_dataset(1), "data")
        process = workers.start(root=store.root, name="data", seed=2, rows=300, crash_at=point)
        runs[point] = (store, info.id, process)
    out = {}
    for point, (store, dataset_id, process) in runs.items():
        process.join(timeout=60)
        assert process.exitcode == -signal.SIGKILL, f"{point}: exit code {process.exitcode}"
        out[point] = (store, dataset_id)
    return out


@pytest.mark.parametrize("point", CRASH_POINTS)
def test_a_process_killed_mid_save_leaves_a_whole_version(
    crashed: dict[str, tuple[Store, str]], point: str
) -> None:
    live, dataset_id = crashed[point]
    root = live.root
    # Before the pointer switch the old version is current; from then on the new one is.
    expected = make_dataset(2, 300) if point == "after_pointer" else make_dataset(1)
    # A store opened before the crash (another session) sees only whole versions …
    assert leftovers(root) != []  # … although the crash left debris behind …
    assert [i.id for i in live.list()] == [dataset_id]
    assert_same(live.load(dataset_id), expected)

    reopened = Store(root)
    assert leftovers(root) == []  # … and opening the store cleaned it
    assert [i.id for i in reopened.list()] == [dataset_id]
    assert_same(reopened.load(dataset_id), expected)
    assert reopened.list()[0].rows == len(expected.values)


@pytest.mark.parametrize("point", ["after_rename", "before_pointer"])
def test_a_first_save_killed_before_its_pointer_leaves_nothing(tmp_path: Path, point: str) -> None:
    process = workers.start(root=tmp_path, name="new", seed=3, rows=100, crash_at=point)
    process.join(timeout=60)
    assert process.exitcode == -signal.SIGKILL
    assert len(list((tmp_path / "datasets").iterdir())) == 1  # a dataset dir with no CURRENT
    store = Store(tmp_path)
    assert store.list() == []
    assert list((tmp_path / "datasets").iterdir()) == []
    assert_same(store.load(store.save(make_dataset(3, 100), "new").id), make_dataset(3, 100))


def test_a_real_sigkill_at_random_moments_never_corrupts(tmp_path: Path) -> None:
    rows = 200_000  # large enough that writing it takes a noticeable fraction of a second
    old, new = make_dataset(1), make_dataset(5, rows)
    outcomes = []
    for attempt, delay in enumerate([0.0, 0.05, 0.15, 0.4, 1.0]):
        root = tmp_path / str(attempt)
        info = Store(root).save(old, "data")
        ready = workers.CONTEXT.Event()
        process = workers.start(root=root, name="data", seed=5, rows=rows, ready=ready)
        assert ready.wait(timeout=60)
        time.sleep(delay)
        process.kill()  # SIGKILL; a no-op if the save already finished
        process.join(timeout=60)
        assert process.exitcode in (-signal.SIGKILL, 0)
        store = Store(root)
        assert leftovers(root) == []
        assert [i.id for i in store.list()] == [info.id]
        loaded = store.load(info.id)
        outcome = "old" if same(loaded, old) else "new" if same(loaded, new) else None
        assert outcome is not None, f"SIGKILL after {delay}s left a version equal to neither"
        outcomes.append(outcome)
    assert "old" in outcomes  # at least one kill landed before the switch


def test_cleanup_spares_a_temp_dir_whose_writer_is_alive(tmp_path: Path) -> None:
    Store(tmp_path)
    live, dead = tmp_path / ".tmp" / "save-live", tmp_path / ".tmp" / "save-dead"
    live.mkdir()
    dead.mkdir()
    fd = os.open(live, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        Store(tmp_path)
        assert live.exists() and not dead.exists()
    finally:
        os.close(fd)
    Store(tmp_path)
    assert not live.exists()


# ── Concurrency ──────────────────────────────────────────────────────────────────────
def test_two_processes_saving_at_once_leave_one_of_their_datasets(tmp_path: Path) -> None:
    rows, rounds = 5_000, 15
    go = workers.CONTEXT.Event()
    readies = [workers.CONTEXT.Event() for _ in range(2)]
    processes = [
        workers.start(
            root=tmp_path, name="shared", seed=seed, rows=rows, rounds=rounds, ready=ready, go=go
        )
        for seed, ready in zip((7, 8), readies, strict=True)
    ]
    candidates = [make_dataset(7, rows), make_dataset(8, rows)]
    store = Store(tmp_path)
    assert all(ready.wait(timeout=60) for ready in readies)
    go.set()
    # Read while they write: every load must be a whole dataset, never a mixture.
    loads = 0
    deadline = time.monotonic() + 120
    while any(p.is_alive() for p in processes):
        assert time.monotonic() < deadline, "the writers did not finish"
        for info in store.list():
            assert info.name == "shared" and info.rows == rows
            assert_one_of(store.load(info.id), candidates)
            loads += 1
        time.sleep(0.005)  # leave the writers some CPU
    assert [p.exitcode for p in processes] == [0, 0]
    assert loads > 0  # the reader did overlap the writers
    store = Store(tmp_path)
    (info,) = store.list()  # both processes saved versions of one dataset
    assert_one_of(store.load(info.id), candidates)
    assert leftovers(tmp_path) == []


def test_threads_saving_at_once_leave_consistent_datasets(store: Store) -> None:
    candidates = {seed: make_dataset(seed, 500) for seed in range(4)}
    barrier = threading.Barrier(4)

    def work(seed: int) -> list[DatasetInfo]:
        barrier.wait()
        shared = [store.save(candidates[seed], "shared") for _ in range(3)]
        return [*shared, store.save(candidates[seed], f"own {seed}")]

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(work, candidates))
    listed = {i.name: i for i in store.list()}
    assert sorted(listed) == ["own 0", "own 1", "own 2", "own 3", "shared"]
    assert len({i.id for r in results for i in r[:3]}) == 1
    shared = store.load(listed["shared"].id)
    assert_one_of(shared, list(candidates.values()))
    for seed, c in candidates.items():
        assert_same(store.load(listed[f"own {seed}"].id), c)
    assert leftovers(store.root) == []
