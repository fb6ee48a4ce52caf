"""Shared helpers for the readers: memory limit, natural sort, atomic writes, error wrapping."""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from pathlib import Path

import numpy as np

from ..errors import (
    CorruptFileError,
    MedRouteError,
    PermissionDeniedError,
    SaveError,
    TooLargeError,
)

ENV_MAX_BYTES = "MEDROUTE_MAX_STUDY_BYTES"


def max_study_bytes() -> int:
    """Largest voxel array a study may allocate (bytes).

    ``MEDROUTE_MAX_STUDY_BYTES`` overrides it (plain bytes, or with a K/M/G suffix); the default is half the
    physical memory, capped at 16 GiB.
    """
    env = os.environ.get(ENV_MAX_BYTES, "").strip()
    if env:
        m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([kKmMgG]?)[iI]?[bB]?", env)
        if m:
            mult = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}[m.group(2).lower()]
            return int(float(m.group(1)) * mult)
    try:
        phys = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        phys = 8 << 30
    return int(min(phys // 2, 16 << 30))


def check_size(shape, dtype, path) -> None:
    """Raise :class:`TooLargeError` before allocating an array bigger than the configured limit."""
    try:
        n = 1
        for s in shape:
            s = int(s)
            if s < 0:
                raise CorruptFileError(f"{Path(path).name}: the header gives a negative image size {tuple(shape)}; the file is damaged.", path)
            n *= s
        nbytes = n * np.dtype(dtype).itemsize
    except TypeError as e:
        raise CorruptFileError(f"{Path(path).name}: the header's image size cannot be read ({e}).", path) from e
    limit = max_study_bytes()
    if nbytes > limit:
        raise TooLargeError(
            f"{Path(path).name}: the header announces a {' x '.join(str(int(s)) for s in shape)} image "
            f"({nbytes / 2**30:.1f} GiB), more than the memory limit of {limit / 2**30:.1f} GiB; "
            f"the file may be damaged, or raise the limit with {ENV_MAX_BYTES}.",
            path,
        )


_NUM = re.compile(r"(\d+)")


def natural_key(path: str | Path):
    """Sort key so that img2 comes before img10."""
    s = str(path)
    return [int(t) if t.isdigit() else t.lower() for t in _NUM.split(s)]


def check_readable(path: Path) -> None:
    if not os.access(path, os.R_OK):
        what = "folder" if path.is_dir() else "file"
        raise PermissionDeniedError(
            f"{path}: this {what} cannot be read with your permissions; ask for read access or copy it somewhere you own.",
            path,
        )


@contextlib.contextmanager
def reading(path, what: str):
    """Turn any unexpected exception from a third-party reader into a :class:`CorruptFileError`.

    Readers raise our own errors for the cases they recognise; this catches what the decoders throw on damaged
    bytes (ValueError, struct.error, zlib.error, EOFError, IndexError, ...), so nothing but MedRouteError escapes.
    """
    try:
        yield
    except MedRouteError:
        raise
    except MemoryError as e:
        raise TooLargeError(f"{Path(path).name}: not enough memory to open this {what}.", path) from e
    except PermissionError as e:
        raise PermissionDeniedError(f"{path}: cannot be read with your permissions ({e.strerror}).", path) from e
    except Exception as e:  # noqa: BLE001 - boundary: third-party decoders raise anything on damaged bytes
        detail = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
        raise CorruptFileError(
            f"{Path(path).name}: this {what} is damaged or incomplete and cannot be read ({detail}).", path
        ) from e


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks (plugins, datasets and manifests all use this one)."""
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that a crash leaves either the old file or the new one, never half of it."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)


@contextlib.contextmanager
def atomic_path(path: str | Path):
    """Yield a temporary path next to ``path``; on success fsync it and rename it over ``path``.

    The caller writes the temporary file (with any library); if the block raises, the temporary file is removed
    and ``path`` is untouched.
    """
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise SaveError(f"Cannot create the folder {parent} ({e.strerror}).", path) from e
    # Keep the full suffix (".nii.gz") so libraries that pick a writer by extension still work.
    name = path.name
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp" + _suffixes(name), dir=parent)
    except OSError as e:  # a read-only or full folder: say so, typed, before anything is written
        raise SaveError(f"Cannot write {path}: the folder {parent} does not accept new files ({e.strerror or e}).",
                        path) from e
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp_path, path)
        fsync_dir(parent)
    except MedRouteError:
        tmp_path.unlink(missing_ok=True)
        raise
    except OSError as e:
        tmp_path.unlink(missing_ok=True)
        raise SaveError(f"Cannot write {path} ({e.strerror or e}).", path) from e
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def _suffixes(name: str) -> str:
    low = name.lower()
    for ext in (".nii.gz", ".nii", ".png", ".nrrd", ".mha", ".json", ".csv", ".dcm", ".tif", ".tiff", ".npz"):
        if low.endswith(ext):
            return ext
    return ""


def fsync_dir(d: Path) -> None:
    try:
        fd = os.open(d, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
