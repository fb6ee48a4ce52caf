"""Studies inside archives: a ``.zip`` (a DICOM series exported from a PACS or downloaded from TCIA, a stack of
PNGs, a NIfTI file), a tar archive, plain or compressed (``.tar``, ``.tar.gz``/``.tgz``, ``.tar.bz2``, ``.tar.xz``:
research datasets such as the Medical Segmentation Decathlon ship so), or one gzip-compressed file (``.dcm.gz``;
``.nii.gz`` is NIfTI's own and read directly).

An archive is unpacked once into the user's cache, ``$MEDROUTE_ARCHIVE_DIR`` or ``$XDG_CACHE_HOME/medroute/archives``
(``~/.cache/medroute/archives``), in a folder named after the archive and its content hash: opening the same archive
again reuses it, and the study keeps the same source paths (so its autosave and sessions find it again).  Unpacking
goes to a temporary folder renamed into place when complete, so a crash never leaves a half-unpacked study.  Checks:
damaged or truncated archives, password protection, member names that would escape the folder (tar links and
device files are skipped), more unpacked bytes than memory allows a study (zip bombs; a tar's sizes are checked
header by header), more than 100 000 files, not enough free disk.  Entries unused for 30 days are removed (only
folders this module made: ``<name>-<16 hex>`` holding its completion marker, and its temporary folders).
"""

from __future__ import annotations

import bz2
import errno
import gzip
import lzma
import os
import re
import shutil
import tarfile
import time
import uuid
import zipfile
import zlib
from pathlib import Path, PurePosixPath

from ..errors import CorruptFileError, EmptyInputError, TooLargeError, UnsupportedFormatError
from ._common import max_study_bytes, sha256_file

ENV_ARCHIVE_DIR = "MEDROUTE_ARCHIVE_DIR"
COMPLETE = ".medroute-complete"
_ENTRY = re.compile(r"^[A-Za-z0-9._-]+-[0-9a-f]{16}$")
_TMP = re.compile(r"^\.[A-Za-z0-9._-]+-[0-9a-f]{16}\.tmp-\d+-[0-9a-f]{8}$")
# files that travel with images but are not studies: a study inside an archive is chosen without them
SIDECARS = (".json", ".txt", ".csv", ".tsv", ".md", ".bval", ".bvec", ".xml", ".html", ".pdf", ".log", ".ini")
KEEP_DAYS = 30
_JUNK_NAMES = (".DS_Store", "Thumbs.db", "desktop.ini")
_CHUNK = 1 << 20
# names of archives (longest first: a .tar.gz is named without both); the content decides, these only name things
TAR_EXTS = (".tar.gz", ".tar.bz2", ".tar.xz", ".tgz", ".tbz2", ".txz", ".tar")
ARCHIVE_EXTS = TAR_EXTS + (".zip", ".gz")
_COMPRESSED = {b"\x1f\x8b": gzip.open, b"BZh": bz2.open, b"\xfd7zXZ\x00": lzma.open}
_DIGESTS: dict[tuple, str] = {}


def cache_dir() -> Path:
    env = os.environ.get(ENV_ARCHIVE_DIR)
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "medroute" / "archives"


def archive_kind(path: Path, head: bytes | None = None) -> str | None:
    """'zip', 'tar' (plain, gzip, bzip2 or xz) or 'gzip' (one compressed file) for an archive MedRoute unpacks,
    else None (a .nii.gz is NIfTI, not an archive).  Decided by the content, not the name."""
    if head is None or len(head) < 262:
        try:
            with open(path, "rb") as f:
                head = f.read(512)
        except OSError:
            return None
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return "zip"
    if _is_tar_header(head):
        return "tar"
    opener = next((o for magic, o in _COMPRESSED.items() if head.startswith(magic)), None)
    if opener is None or ".nii" in path.name.lower():
        return None
    try:  # the first tar header block inside the compressed stream
        with opener(path, "rb") as f:
            inner = f.read(512)
    except (OSError, EOFError, lzma.LZMAError, zlib.error, ValueError):
        inner = None  # damaged: named a tar, it is unpacked as one and gets the 'damaged' error
    if _is_tar_header(inner or b"") or (inner is None and path.name.lower().endswith(TAR_EXTS)):
        return "tar"
    return "gzip" if opener is gzip.open else None


def _is_tar_header(block: bytes) -> bool:
    return len(block) >= 262 and block[257:262] == b"ustar"


def is_archive_name(name: str) -> bool:
    return name.lower().endswith(ARCHIVE_EXTS)


def unpacked_root(path) -> Path:
    """Unpack ``path`` (cached) and return what to open: the single file or folder inside, or the folder itself."""
    root = unpack(path)
    while True:
        entries = [e for e in root.iterdir() if e.name != COMPLETE]
        studies = [e for e in entries if e.is_dir() or not e.name.lower().endswith(SIDECARS)]
        if any(e.name.lower().endswith((".mhd", ".nhdr")) for e in studies):  # their detached pixel data goes with them
            studies = [e for e in studies if not e.name.lower().endswith((".raw", ".zraw", ".raw.gz"))]
        if len(studies) == 1 and studies[0].is_dir():
            root = studies[0]
            continue
        return studies[0] if len(studies) == 1 else root


def unpack(path) -> Path:
    """The cache folder holding the unpacked archive (unpacked now unless an earlier call did)."""
    path = Path(path)
    kind = archive_kind(path)
    if kind is None:
        raise UnsupportedFormatError(f"{path.name}: this is not a zip, tar or gzip archive.", path)
    dest = _entry(path)
    if (dest / COMPLETE).is_file():
        os.utime(dest)  # recently used: kept by the clean-up
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    tmp.mkdir()
    try:
        {"zip": _unzip, "tar": _untar, "gzip": _gunzip}[kind](path, tmp)
        with open(tmp / COMPLETE, "w") as f:
            f.write(str(path))
            f.flush()
            os.fsync(f.fileno())
        if dest.exists() and not (dest / COMPLETE).is_file():  # left by a crash before its marker
            shutil.rmtree(dest, ignore_errors=True)
        try:
            os.replace(tmp, dest)
        except OSError:
            if not (dest / COMPLETE).is_file():  # not another process finishing the same archive first
                raise
            shutil.rmtree(tmp, ignore_errors=True)
            return dest
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _clean_old(dest.parent, keep=dest)
    return dest


def _entry(path: Path) -> Path:
    """The cache folder of an archive: its name and content hash."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", path.name)[:60]
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns, str(cache_dir()))
    digest = _DIGESTS.get(key) or sha256_file(path)[:16]  # hashed once per process (scan, then open, reopen)
    _DIGESTS[key] = digest
    return cache_dir() / f"{stem}-{digest}"


def mark_refused(path) -> None:
    """The unpacked copy of an archive whose content was refused (no image, or several studies side by side) is of
    no use: it is dated back, so the next clean-up removes it instead of keeping it 30 days.  Not removed now: another
    window or batch job may be reading it, and opening it again dates it forward (``unpack``), which keeps it."""
    dest = _entry(Path(path))
    if (dest / COMPLETE).is_file():
        try:
            os.utime(dest, (0, 0))
        except OSError:
            pass


def _limit(path: Path, total: int, out: Path) -> None:
    cap = max_study_bytes()
    if total > cap:
        raise TooLargeError(f"{path.name}: the archive unpacks to {total / 2**30:.1f} GiB, more than a study may use "
                            f"here ({cap / 2**30:.1f} GiB; MEDROUTE_MAX_STUDY_BYTES raises the limit).", path)
    free = shutil.disk_usage(out).free
    if total + (64 << 20) > free:
        raise TooLargeError(f"{path.name}: unpacking needs {total / 2**20:.0f} MB but the cache disk ({out.parent}) "
                            f"has {free / 2**20:.0f} MB free.", path)


def _copy(src, dst: Path, budget: int, path: Path) -> int:
    """Stream ``src`` into ``dst``; at most ``budget`` bytes (a member may not inflate past what it declared)."""
    n = 0
    with open(dst, "wb") as f:
        while chunk := src.read(_CHUNK):
            n += len(chunk)
            if n > budget:
                raise TooLargeError(f"{path.name}: the archive inflates to more than it declares (a damaged file or a "
                                    "zip bomb); it was not opened.", path)
            f.write(chunk)
        f.flush()
        os.fsync(f.fileno())
    return n


MAX_MEMBERS = 100_000  # files in one archive (a DICOM series has hundreds to a few thousand)
_WINDOWS = os.name == "nt"
_RESERVED = re.compile(r"^(con|prn|aux|nul|com[1-9]|lpt[1-9])(\..*)?$", re.IGNORECASE)


def _member_dst(path: Path, out: Path, name: str) -> Path:
    """Where a member is unpacked, or a typed error for a name that would land outside ``out`` (absolute, '..',
    a drive name) or that Windows cannot write (CON, NUL.txt, a trailing dot or space)."""
    rel = PurePosixPath(name.replace("\\", "/"))
    parts = [q for q in rel.parts if q != "."]
    dst = out.joinpath(*parts)
    top = os.path.realpath(out)
    if rel.is_absolute() or not parts or any(q in ("..", "") or ":" in q for q in parts) \
            or not os.path.realpath(dst).startswith(top + os.sep):
        raise CorruptFileError(f"{path.name}: the archive holds a file named '{name}', which would be written "
                               "outside its folder; it was not opened.", path)
    if _WINDOWS and any(_RESERVED.match(q) or q[-1] in ". " for q in parts):
        raise CorruptFileError(f"{path.name}: the archive holds a file named '{name}', which Windows cannot store; "
                               "unpack it on the computer that made it and open the folder.", path)
    return dst


def _write_member(path: Path, name: str, src, dst: Path, budget: int) -> int:
    """Unpack one member (``src``, a readable stream) to ``dst``; the typed error for what the disk refuses."""
    try:
        dst.parent.mkdir(parents=True, exist_ok=True)
        if dst.exists():  # 'a' and 'a/b', or names that differ only by case on this file system
            raise FileExistsError(errno.EEXIST, "exists", str(dst))
        return _copy(src, dst, budget, path)
    except OSError as e:
        if e.errno == errno.ENOSPC:
            raise TooLargeError(f"{path.name}: the cache disk ({cache_dir()}) is full.", path) from None
        if e.errno in (errno.EEXIST, errno.ENOTDIR, errno.EISDIR, errno.ENAMETOOLONG, errno.EINVAL):
            raise CorruptFileError(f"{path.name}: the archive holds file names that cannot be unpacked side by side "
                                   f"or are too long ('{name}'); it was not opened.", path) from None
        raise


def _unzip(path: Path, out: Path) -> None:
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        raise CorruptFileError(f"{path.name}: the zip archive is damaged or incomplete; it was probably not copied or "
                               f"downloaded completely ({e}).", path) from None
    with zf:
        members = [m for m in zf.infolist() if not m.is_dir() and not _junk(m.filename)]
        if not members:
            raise EmptyInputError(f"{path.name}: the zip archive holds no files.", path)
        if len(members) > MAX_MEMBERS:
            raise TooLargeError(f"{path.name}: the archive holds {len(members)} files, more than MedRoute unpacks "
                                f"({MAX_MEMBERS}); it is not one study.", path)
        if any(m.flag_bits & 0x1 for m in members):
            raise UnsupportedFormatError(f"{path.name}: the zip archive is password-protected; unpack it with its "
                                         "password first.", path)
        total = sum(m.file_size for m in members)
        _limit(path, total, out)
        budget = max_study_bytes()
        dsts = [_member_dst(path, out, m.filename) for m in members]  # every name checked before anything is written
        for m, dst in zip(members, dsts):
            try:
                with zf.open(m) as src:
                    budget -= _write_member(path, m.filename, src, dst, min(budget, m.file_size))
            except (zipfile.BadZipFile, EOFError, zlib.error) as e:
                raise CorruptFileError(f"{path.name}: '{m.filename}' in the zip archive is damaged ({e}); the archive "
                                       "was probably not copied or downloaded completely.", path) from None
            except NotImplementedError as e:
                raise UnsupportedFormatError(f"{path.name}: '{m.filename}' uses a zip compression MedRoute cannot "
                                             f"unpack ({e}); unpack the archive first.", path) from None


def _untar(path: Path, out: Path) -> None:
    """A tar archive, plain or compressed.  Only regular files are unpacked (links and device files are skipped:
    a study needs none, and a link could point anywhere).  The headers are read one by one and the declared sizes
    and the file count are checked as they come, so a small compressed archive declaring terabytes is refused before
    its data is inflated; then the files are unpacked in a second pass."""
    cap = max_study_bytes()
    try:
        with tarfile.open(path, "r:*") as tf:
            members, total = [], 0
            while (m := tf.next()) is not None:  # header by header: the sizes are checked before data is skipped
                if not m.isfile() or _junk(m.name):
                    continue
                members.append(m)
                total += m.size
                if total > cap:
                    _limit(path, total, out)
                if len(members) > MAX_MEMBERS:
                    raise TooLargeError(f"{path.name}: the archive holds more than {MAX_MEMBERS} files, more than "
                                        "MedRoute unpacks; it is not one study.", path)
            if not members:
                raise EmptyInputError(f"{path.name}: the tar archive holds no files.", path)
            _limit(path, total, out)
            dsts = []
            for m in members:  # every name checked before anything is written
                if hasattr(tarfile, "data_filter"):  # Python >= 3.10.12 / 3.11.4; our own checks follow anyway
                    try:
                        tarfile.data_filter(m, str(out))
                    except tarfile.FilterError:
                        raise CorruptFileError(f"{path.name}: the archive holds a file named '{m.name}', which would "
                                               "be written outside its folder; it was not opened.", path) from None
                dsts.append(_member_dst(path, out, m.name))
            for m, dst in zip(members, dsts):
                src = tf.extractfile(m)
                try:
                    _write_member(path, m.name, src, dst, m.size)
                finally:
                    src.close()
    except OSError as e:
        if e.errno is not None:  # the disk, not the archive (bz2 and gzip report bad data as OSError without errno)
            raise
        raise _damaged_tar(path, e) from None
    except (tarfile.TarError, EOFError, zlib.error, lzma.LZMAError) as e:
        raise _damaged_tar(path, e) from None


def _damaged_tar(path: Path, e: Exception) -> CorruptFileError:
    return CorruptFileError(f"{path.name}: the tar archive is damaged or incomplete; it was probably not copied or "
                            f"downloaded completely ({e}).", path)


def _gunzip(path: Path, out: Path) -> None:
    name = path.name[:-3] if path.name.lower().endswith(".gz") and len(path.name) > 3 else path.name + ".unpacked"
    with open(path, "rb") as f:  # gzip's trailer: the unpacked size modulo 4 GiB (checked again while inflating)
        f.seek(-4, os.SEEK_END)
        declared = int.from_bytes(f.read(4), "little")
    _limit(path, max(declared, path.stat().st_size), out)
    try:
        with gzip.open(path, "rb") as src:
            _copy(src, out / name, max_study_bytes(), path)
    except OSError as e:
        if e.errno == errno.ENOSPC:
            raise TooLargeError(f"{path.name}: the cache disk ({out.parent}) is full.", path) from None
        if not isinstance(e, gzip.BadGzipFile):
            raise
        raise CorruptFileError(f"{path.name}: the gzip file is damaged or incomplete; it was probably not copied or "
                               f"downloaded completely ({e}).", path) from None
    except (EOFError, zlib.error) as e:
        raise CorruptFileError(f"{path.name}: the gzip file is damaged or incomplete; it was probably not copied or "
                               f"downloaded completely ({e}).", path) from None


def _junk(name: str) -> bool:
    parts = PurePosixPath(name.replace("\\", "/")).parts
    return bool(parts) and (parts[0] == "__MACOSX" or parts[-1] in _JUNK_NAMES or parts[-1].startswith("._"))


def _clean_old(folder: Path, keep: Path) -> None:
    """Remove cached archives not used for KEEP_DAYS days, and temporary folders of crashed runs older than a day;
    nothing else (only names this module makes, and entries only with their completion marker)."""
    now = time.time()
    for e in folder.iterdir():
        try:
            age = now - e.stat().st_mtime
        except OSError:
            continue
        if e == keep or not e.is_dir() or e.is_symlink():
            continue
        if (_TMP.match(e.name) and age > 86400) or \
                (_ENTRY.match(e.name) and (e / COMPLETE).is_file() and age > KEEP_DAYS * 86400):
            shutil.rmtree(e, ignore_errors=True)
