"""A local store of saved datasets that survives restarts, crashes and concurrent saves.

Each saved dataset is a directory of complete, immutable *versions* and a ``CURRENT`` file
naming the one to load. Tables are Parquet (pyarrow, dictionary-encoded categoricals) and
everything else is JSON, so a store can be read from a notebook without this module.

Layout under ``root``::

    .lock                          flock-ed around id allocation, pointer switches, deletes, cleanup
    .tmp/<random>/                 a version being written (flock-ed by its writer while alive)
    .trash/<id>-<random>/          a dataset being deleted
    datasets/<id>/CURRENT          one line: the current version's directory name
    datasets/<id>/v<ns>-<hex>/     values.parquet, areas.parquet, [mergers.parquet],
                                   [boundaries.json], meta.json

Why it is crash-safe: a version is written and fsync-ed in ``.tmp``, renamed whole into its
dataset directory, and only then made current by replacing ``CURRENT`` atomically
(write-temp, fsync, ``os.replace``, fsync the directory). Until that replace the previous
version is current and untouched; after it, the old version is pruned. Whatever a crash leaves
behind (temp dirs, a renamed but never-current version, a half-deleted dataset) is invisible
to :meth:`Store.load` and :meth:`Store.list` and is removed by the next :class:`Store`.

Why it is safe under concurrency: every step that changes what is visible (choosing the id
for a name, renaming a version in, switching ``CURRENT``, pruning, deleting, cleaning up)
runs under an exclusive ``flock`` on ``root/.lock`` and, inside one process, a
``threading.Lock`` per root. Writing the data itself needs no lock, so saves overlap and the
last one to switch its pointer wins. Readers take no lock: they only ever follow
``CURRENT`` to a complete version, and retry if a concurrent save prunes it under them.

There is deliberately no separate index file: the per-dataset ``CURRENT`` pointers and each
version's ``meta.json`` *are* the metadata index, so there is nothing to fall out of step
after a crash.

Ids are made here (a slug of the name plus 8 random hex digits) and checked against
:data:`ID_PATTERN` before any path is built from them; names are only ever stored as text.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import secrets
import shutil
import signal
import tempfile
import threading
import time
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd
import pyarrow as pa

from iaf.catalogue import Indicator
from iaf.errors import InputError
from iaf.model import Dataset

FORMAT_VERSION = 1
SLUG_MAX = 60
NAME_MAX = 200
# A slug of [a-z0-9-] (at most SLUG_MAX characters, starting with a letter or digit) and a
# hyphen and 8 hex digits of randomness. Anything else is refused before a path is built.
ID_PATTERN = re.compile(rf"[a-z0-9][a-z0-9-]{{0,{SLUG_MAX - 1}}}-[0-9a-f]{{8}}")
VERSION_PATTERN = re.compile(r"v[0-9]{20}-[0-9a-f]{8}")
# Load speed beats size for the values table. Measured on 2 cores for 7.4M canonical rows:
# uncompressed 348 MB, ~1.2-1.5 s CPU per load (0.8-1.3 s wall, machine loaded); zstd 312 MB,
# ~1.7-2.6 s CPU (1.3-2.2 s wall). Numbers dominate the bytes and barely compress, so zstd
# buys 10% of disk for 1.5x the load time. Small tables are compressed.
VALUES_COMPRESSION = "none"
OTHER_COMPRESSION = "zstd"
# Test hook: a save SIGKILLs its own process when it reaches the named point (see CRASH_POINTS).
CRASH_ENV = "IAF_STORE_CRASH_AT"
CRASH_POINTS: tuple[str, ...] = (
    "during_data",  # values.parquet written, the rest of the version not yet
    "after_data",  # every file written and fsync-ed, temp dir not yet renamed
    "after_rename",  # version renamed into the dataset directory, CURRENT untouched
    "before_pointer",  # new CURRENT written to a temp file, not yet os.replace-d
    "after_pointer",  # CURRENT switched, the previous version not yet pruned
)
# A reader retries when a save prunes the version it was about to open (a tiny window).
_LOAD_ATTEMPTS = 20

_THREAD_LOCKS: dict[str, threading.Lock] = {}
_THREAD_LOCKS_GUARD = threading.Lock()


@dataclass(frozen=True, slots=True)
class DatasetInfo:
    """What the store knows about one saved dataset's current version.

    ``created`` is when that version was saved (UTC); ``areas`` and ``indicators`` count
    the distinct codes in its values; ``bytes`` is the version's size on disk.
    """

    id: str
    name: str
    created: datetime
    rows: int
    areas: int
    indicators: int
    synthetic: bool
    bytes: int


class Store:
    """Saved datasets under ``root`` (created if missing); see the module docstring.

    Opening a store removes what crashed saves and deletes left behind.
    """

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root).resolve()
        self._datasets = self.root / "datasets"
        self._tmp = self.root / ".tmp"
        self._trash = self.root / ".trash"
        for d in (self.root, self._datasets, self._tmp, self._trash):
            d.mkdir(parents=True, exist_ok=True)
        with _THREAD_LOCKS_GUARD:
            self._thread_lock = _THREAD_LOCKS.setdefault(str(self.root), threading.Lock())
        with self._locked():
            self._clean()

    def __repr__(self) -> str:
        return f"Store({str(self.root)!r})"

    # ── Public API ───────────────────────────────────────────────────────────────────
    def save(self, dataset: Dataset, name: str) -> DatasetInfo:
        """Save ``dataset`` as ``name``: a new dataset, or a new version if the name exists.

        The previous version stays current until the new one is complete on disk; two saves
        of one name at once leave whichever switched last.
        """
        name = _check_name(name)
        _check_dataset(dataset)
        with self._locked():
            tmp = Path(tempfile.mkdtemp(prefix="save-", dir=self._tmp))
            # Held until the version is renamed in, so cleanup in other processes skips it.
            tmp_fd = os.open(tmp, os.O_RDONLY | os.O_DIRECTORY)
            fcntl.flock(tmp_fd, fcntl.LOCK_EX)
        try:
            _write_version(tmp, dataset, name)
            _crash_point("after_data")
            _fsync_dir(tmp)
            with self._locked():
                dataset_id = self._id_for(name)
                ddir = self._datasets / dataset_id
                version = f"v{time.time_ns():020d}-{secrets.token_hex(4)}"
                os.rename(tmp, ddir / version)
                _fsync_dir(self._tmp)
                _fsync_dir(ddir)
                _crash_point("after_rename")
                self._switch(ddir, version)
                _crash_point("after_pointer")
                self._prune(ddir, keep=version)
                # Inside the lock: once it is released a newer save may prune this version.
                return self._info(dataset_id, ddir / version)
        finally:
            os.close(tmp_fd)
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)

    def load(self, dataset_id: str) -> Dataset:
        """The current version of a saved dataset; :class:`InputError` if there is none."""
        ddir = self._dataset_dir(dataset_id)
        for _ in range(_LOAD_ATTEMPTS):
            version = _current(ddir)
            if version is None:
                break
            try:
                return _read_version(ddir / version)
            except FileNotFoundError:
                # A concurrent save pruned this version after we read CURRENT: follow it again.
                if _current(ddir) == version:
                    raise
            except (ValueError, KeyError, TypeError) as e:  # pyarrow.ArrowInvalid is a ValueError
                raise InputError(
                    f"saved dataset {dataset_id!r} is damaged and cannot be read: {e}"
                ) from e
        raise _not_found(dataset_id)

    def list(self) -> list[DatasetInfo]:
        """Every saved dataset's current version, newest first (unreadable ones left out)."""
        infos = []
        for ddir in self._datasets.iterdir():
            if not ID_PATTERN.fullmatch(ddir.name):
                continue
            for _ in range(_LOAD_ATTEMPTS):
                version = _current(ddir)
                if version is None:
                    break
                try:
                    infos.append(self._info(ddir.name, ddir / version))
                    break
                except FileNotFoundError:
                    continue  # pruned by a concurrent save: follow CURRENT again
                except (ValueError, KeyError, TypeError):
                    break  # damaged metadata (not written by this store): leave it out
        return sorted(infos, key=lambda i: (i.created, i.id), reverse=True)

    def delete(self, dataset_id: str) -> None:
        """Delete a saved dataset and all its versions; :class:`InputError` if there is none."""
        ddir = self._dataset_dir(dataset_id)
        with self._locked():
            if _current(ddir) is None:
                raise _not_found(dataset_id)
            doomed = self._trash / f"{dataset_id}-{secrets.token_hex(4)}"
            os.rename(ddir, doomed)
            _fsync_dir(self._datasets)
            _fsync_dir(self._trash)
        shutil.rmtree(doomed, ignore_errors=True)

    def exists(self, dataset_id: str) -> bool:
        """Whether ``dataset_id`` names a saved dataset (False for malformed ids)."""
        try:
            ddir = self._dataset_dir(dataset_id)
        except InputError:
            return False
        return _current(ddir) is not None

    # ── Locking and housekeeping ─────────────────────────────────────────────────────
    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        with self._thread_lock:
            fd = os.open(self.root / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                yield
            finally:
                os.close(fd)  # closing the descriptor releases the flock

    def _clean(self) -> None:
        """Remove what crashed saves and deletes left behind. Caller holds the lock."""
        for entry in self._tmp.iterdir():
            if _writer_alive(entry):
                continue
            _remove(entry)
        for entry in self._trash.iterdir():
            _remove(entry)
        for ddir in self._datasets.iterdir():
            if not ID_PATTERN.fullmatch(ddir.name) or not ddir.is_dir():
                continue  # not ours: leave it alone
            version = _current(ddir)
            if version is None or not (ddir / version).is_dir():
                # A crash between creating the directory and the first pointer switch.
                shutil.rmtree(ddir, ignore_errors=True)
            else:
                self._prune(ddir, keep=version)

    def _prune(self, ddir: Path, keep: str) -> None:
        """Remove every version but ``keep`` and stray pointer temp files. Caller holds the lock."""
        for entry in ddir.iterdir():
            if entry.name != keep and entry.name != "CURRENT":
                _remove(entry)

    def _switch(self, ddir: Path, version: str) -> None:
        """Point ``ddir/CURRENT`` at ``version`` atomically and durably. Caller holds the lock."""
        tmp = ddir / f"CURRENT.tmp-{secrets.token_hex(4)}"
        _durable_write(tmp, lambda f: f.write(f"{version}\n".encode()))
        _crash_point("before_pointer")
        os.replace(tmp, ddir / "CURRENT")
        _fsync_dir(ddir)

    def _id_for(self, name: str) -> str:
        """The id saved under ``name``, or a new one with its directory. Caller holds the lock."""
        for ddir in sorted(self._datasets.iterdir()):
            if not ID_PATTERN.fullmatch(ddir.name):
                continue
            version = _current(ddir)
            if version is not None and _saved_name(ddir / version) == name:
                return ddir.name
        slug = _slug(name)
        while True:
            dataset_id = f"{slug}-{secrets.token_hex(4)}"
            try:
                (self._datasets / dataset_id).mkdir()
            except FileExistsError:
                continue
            _fsync_dir(self._datasets)
            return dataset_id

    def _dataset_dir(self, dataset_id: object) -> Path:
        """The directory of a well-formed id, proved to lie directly under ``datasets``."""
        if not isinstance(dataset_id, str) or not ID_PATTERN.fullmatch(dataset_id):
            raise _not_found(dataset_id)
        path = (self._datasets / dataset_id).resolve()
        if path.parent != self._datasets.resolve():
            raise _not_found(dataset_id)
        return path

    def _info(self, dataset_id: str, vdir: Path) -> DatasetInfo:
        meta = _read_meta(vdir)
        size = sum(p.stat().st_size for p in vdir.iterdir())
        return DatasetInfo(
            id=dataset_id,
            name=meta["name"],
            created=datetime.fromisoformat(meta["created"]),
            rows=int(meta["rows"]),
            areas=int(meta["areas"]),
            indicators=int(meta["indicators"]),
            synthetic=bool(meta["dataset"]["synthetic"]),
            bytes=size,
        )


# ── Validation ───────────────────────────────────────────────────────────────────────
def _not_found(dataset_id: object) -> InputError:
    shown = repr(dataset_id)
    if len(shown) > 80:
        shown = shown[:77] + "..."
    return InputError(f"no saved dataset called {shown}")


def _check_name(name: object) -> str:
    if not isinstance(name, str):
        raise InputError(f"a dataset name must be text, not {type(name).__name__}")
    text = name.strip()
    if not text:
        raise InputError("a dataset name cannot be blank")
    if len(text) > NAME_MAX:
        raise InputError(
            f"a dataset name can have at most {NAME_MAX} characters ({len(text)} given)"
        )
    return text


def _check_dataset(dataset: object) -> None:
    if not isinstance(dataset, Dataset):
        raise InputError(f"only a Dataset can be saved, not {type(dataset).__name__}")
    tables = {"values": dataset.values, "areas": dataset.areas, "mergers": dataset.mergers}
    for label, table in tables.items():
        if table is None and label == "mergers":
            continue
        if not isinstance(table, pd.DataFrame):
            raise InputError(f"the dataset's {label} must be a table, not {type(table).__name__}")
        bad = [repr(c) for c in table.columns if not isinstance(c, str)]
        if bad or table.columns.duplicated().any():
            detail = ", ".join(bad) if bad else "a repeated column name"
            raise InputError(f"the dataset's {label} needs unique text column names ({detail})")
    missing = [c for c in ("area_code", "indicator") if c not in dataset.values]
    if missing:
        raise InputError(f"the dataset's values lack column(s): {', '.join(missing)}")


def _slug(name: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")
    return slug[:SLUG_MAX].rstrip("-") or "dataset"


def _crash_point(point: str) -> None:
    if os.environ.get(CRASH_ENV) == point:
        os.kill(os.getpid(), signal.SIGKILL)


# ── Files ────────────────────────────────────────────────────────────────────────────
def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _durable_write(path: Path, write: Callable[[IO[bytes]], object]) -> None:
    with open(path, "xb") as f:
        write(f)
        f.flush()
        os.fsync(f.fileno())


def _writer_alive(tmp: Path) -> bool:
    """Whether a live save still holds the flock on this temp dir."""
    try:
        fd = os.open(tmp, os.O_RDONLY | os.O_DIRECTORY)
    except (FileNotFoundError, NotADirectoryError):
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _current(ddir: Path) -> str | None:
    """The version ``ddir/CURRENT`` names, if it exists and is well formed."""
    try:
        version = (ddir / "CURRENT").read_text(encoding="ascii").strip()
    except (FileNotFoundError, NotADirectoryError, UnicodeDecodeError):
        return None
    return version if VERSION_PATTERN.fullmatch(version) else None


def _saved_name(vdir: Path) -> str | None:
    """The name a version was saved under; None if its metadata cannot be read."""
    try:
        return _read_meta(vdir)["name"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _read_meta(vdir: Path) -> dict[str, Any]:
    with open(vdir / "meta.json", encoding="utf-8") as f:
        return json.load(f)


# ── Writing and reading one version ──────────────────────────────────────────────────
def _write_version(vdir: Path, dataset: Dataset, name: str) -> None:
    tables: dict[str, dict[str, Any]] = {}
    frames = {"values": dataset.values, "areas": dataset.areas, "mergers": dataset.mergers}
    for label, frame in frames.items():
        if frame is None:
            continue
        compression = VALUES_COMPRESSION if label == "values" else OTHER_COMPRESSION
        _durable_write(vdir / f"{label}.parquet", _parquet_writer(frame, label, compression))
        tables[label] = {"file": f"{label}.parquet", "dtypes": _dtype_specs(frame)}
        if label == "values":
            _crash_point("during_data")
    if dataset.boundaries is not None:
        try:
            text = json.dumps(dataset.boundaries, ensure_ascii=False, separators=(",", ":"))
        except (TypeError, ValueError) as e:
            raise InputError(f"the dataset's boundaries cannot be saved as JSON: {e}") from e
        _durable_write(vdir / "boundaries.json", lambda f: f.write(text.encode("utf-8")))
    values = dataset.values
    meta = {
        "format": FORMAT_VERSION,
        "name": name,
        "created": datetime.now(UTC).isoformat(),
        "rows": len(values),
        "areas": int(values["area_code"].nunique()),
        "indicators": int(values["indicator"].nunique()),
        "dataset": {
            "name": dataset.name,
            "source": dataset.source,
            "synthetic": bool(dataset.synthetic),
            "area_type": dataset.area_type,
        },
        "extra_indicators": [asdict(ind) for ind in dataset.extra_indicators],
        "tables": tables,
        "boundaries": "boundaries.json" if dataset.boundaries is not None else None,
    }
    text = json.dumps(meta, ensure_ascii=False, indent=1)
    _durable_write(vdir / "meta.json", lambda f: f.write(text.encode("utf-8")))


def _parquet_writer(
    frame: pd.DataFrame, label: str, compression: str
) -> Callable[[IO[bytes]], None]:
    def write(f: IO[bytes]) -> None:
        try:
            frame.to_parquet(f, engine="pyarrow", compression=compression)
        except (pa.ArrowException, TypeError, ValueError) as e:
            raise InputError(f"the dataset's {label} table cannot be saved: {e}") from e

    return write


def _read_version(vdir: Path) -> Dataset:
    """Read one version, opening every file before parsing any.

    Once open, a file stays readable even if a concurrent save prunes the version, so a
    load either sees one whole version or fails fast with FileNotFoundError and retries.
    """
    meta = _read_meta(vdir)
    if meta.get("format") != FORMAT_VERSION:
        raise InputError(
            f"saved dataset {meta.get('name')!r} has store format {meta.get('format')!r}; "
            f"this version of IAF Explorer reads format {FORMAT_VERSION}"
        )
    with contextlib.ExitStack() as stack:
        handles = {
            label: stack.enter_context(pa.memory_map(str(vdir / spec["file"])))
            for label, spec in meta["tables"].items()
        }
        boundaries_text = None
        if meta["boundaries"] is not None:
            boundaries_text = (vdir / meta["boundaries"]).read_bytes()
        frames = {
            label: _restore_dtypes(
                pd.read_parquet(handle, engine="pyarrow"), meta["tables"][label]["dtypes"]
            )
            for label, handle in handles.items()
        }
    ds = meta["dataset"]
    return Dataset(
        values=frames["values"],
        areas=frames["areas"],
        name=ds["name"],
        source=ds["source"],
        synthetic=ds["synthetic"],
        boundaries=None if boundaries_text is None else json.loads(boundaries_text),
        mergers=frames.get("mergers"),
        extra_indicators=tuple(Indicator(**d) for d in meta["extra_indicators"]),
        area_type=ds["area_type"],
    )


# ── Exact dtypes ─────────────────────────────────────────────────────────────────────
# Parquet keeps the values but not every pandas dtype detail: a categorical's categories
# come back as ``str`` whatever they were (the canonical frames use ``string``), and
# datetime64[s] comes back as [ms] (Parquet has no seconds unit). Each column's dtype is
# recorded at save and restored at load; the fixes are O(categories) or one vectorised cast.
def _dtype_spec(dtype: Any) -> dict[str, Any]:
    if isinstance(dtype, pd.CategoricalDtype):
        return {
            "kind": "category",
            "ordered": bool(dtype.ordered),
            "categories": _dtype_spec(dtype.categories.dtype),
        }
    if isinstance(dtype, pd.StringDtype):
        na = "NA" if dtype.na_value is pd.NA else "nan"
        return {"kind": "string", "storage": dtype.storage, "na": na}
    return {"kind": "other", "dtype": str(dtype)}


def _dtype_specs(frame: pd.DataFrame) -> dict[str, dict[str, Any]]:
    return {col: _dtype_spec(dtype) for col, dtype in frame.dtypes.items()}


def _pandas_dtype(spec: dict[str, Any]) -> Any:
    if spec["kind"] == "string":
        na_value = pd.NA if spec["na"] == "NA" else np.nan
        return pd.StringDtype(spec["storage"], na_value=na_value)
    return pd.api.types.pandas_dtype(spec["dtype"])


def _restore_dtypes(frame: pd.DataFrame, specs: dict[str, dict[str, Any]]) -> pd.DataFrame:
    fixed = {}
    for col, spec in specs.items():
        original = s = frame[col]
        if spec["kind"] == "category":
            if not isinstance(s.dtype, pd.CategoricalDtype):
                s = s.astype("category")
            cats = _pandas_dtype(spec["categories"])
            if s.cat.categories.dtype != cats:
                s = s.cat.rename_categories(s.cat.categories.astype(cats))
            if s.cat.ordered != spec["ordered"]:
                s = s.cat.as_ordered() if spec["ordered"] else s.cat.as_unordered()
        elif spec.get("dtype") == "object" and s.dtype != object:
            # pandas 3 reads Parquet text as ``str``; object columns held None for missing.
            s = s.astype(object).where(s.notna(), None)
        elif s.dtype != (want := _pandas_dtype(spec)):
            s = s.astype(want)
        if s is not original:
            fixed[col] = s
    return frame.assign(**fixed) if fixed else frame
