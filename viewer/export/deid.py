"""De-identification for exported datasets.  No Qt.

* Case ids are pseudonyms: ``case_`` + the first 12 hex digits of HMAC-SHA256(salt, source key).  The salt is
  random per dataset and lives only in the *key file*, a local JSON file OUTSIDE the dataset (by default
  ``$XDG_DATA_HOME/medroute/export_keys/<DatasetNNN_Name>.json``, mode 0600) together with the mapping
  ``case id -> source``.  Without the key file nobody can link a case back to a patient; with it the same source
  always gets the same id, which is what makes appending stable.
* Group ids (the unit of train/validation splitting, e.g. the patient) and the annotator id are pseudonyms too.
* :func:`find_identifiers` is the check the tests and the validator run over file names, JSON and NIfTI headers.
"""

from __future__ import annotations

import getpass
import hashlib
import hmac
import json
import os
import re
import secrets
import time
from pathlib import Path

from ..errors import MedRouteError
from ..io._common import atomic_path

CASE_PREFIX = "case_"
CASE_RE = re.compile(r"^case_[0-9a-f]{12}$")


class ExportError(MedRouteError):
    """An export cannot be done as asked (bad input, clash with the existing dataset, unsafe location)."""


class DeidentificationError(ExportError):
    """Something identifying would end up in the exported dataset."""


def default_key_dir() -> Path:
    base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "medroute" / "export_keys"


class Pseudonymizer:
    """Salted pseudonyms for one dataset, persisted in a key file outside the dataset."""

    def __init__(self, key_file: str | Path, dataset_dir: str | Path | None = None):
        self.key_file = Path(key_file).expanduser().resolve()
        if dataset_dir is not None:
            ds = Path(dataset_dir).expanduser().resolve()
            if ds == self.key_file.parent or ds in self.key_file.parents:
                raise DeidentificationError(
                    f"The pseudonym key file {self.key_file} would be inside the exported dataset {ds}; it links "
                    "cases back to patients, so keep it outside (choose another --key-file).", self.key_file)
        self._data = {"format": "medroute-export-keys", "version": 1, "salt": secrets.token_hex(16), "cases": {}}
        if self.key_file.is_file():
            try:
                self._data = json.loads(self.key_file.read_text())
                bytes.fromhex(self._data["salt"])
            except (OSError, ValueError, KeyError) as e:
                raise ExportError(f"The pseudonym key file {self.key_file} is damaged ({e}); restore it from a "
                                  "backup or export into a new dataset.", self.key_file) from e
        self._dirty = not self.key_file.is_file()

    @property
    def salt(self) -> bytes:
        return bytes.fromhex(self._data["salt"])

    def _digest(self, kind: str, key: str) -> str:
        return hmac.new(self.salt, f"{kind}\0{key}".encode(), hashlib.sha256).hexdigest()

    def case_id(self, source_key: str) -> str:
        return CASE_PREFIX + self._digest("case", source_key)[:12]

    def group_id(self, group_key: str) -> str:
        return "grp_" + self._digest("group", group_key)[:10]

    def annotator_id(self, user: str | None = None) -> str:
        try:
            user = user or getpass.getuser()
        except (KeyError, OSError):  # no user name (containers)
            user = "unknown"
        return "ann_" + self._digest("annotator", user)[:10]

    def record(self, case: str, source: str, source_key: str) -> None:
        self._data["cases"][case] = {"source": source, "key": source_key, "exported": time.strftime("%Y-%m-%dT%H:%M:%S")}
        self._dirty = True

    def source_of(self, case: str) -> dict | None:
        return self._data["cases"].get(case)

    def save(self) -> Path:
        if not self._dirty:
            return self.key_file
        with atomic_path(self.key_file) as tmp:
            tmp.write_text(json.dumps(self._data, indent=1))
            os.chmod(tmp, 0o600)
        self._dirty = False
        return self.key_file


# --- checks -------------------------------------------------------------------------------------------------------
_DATE_RE = re.compile(r"(?<![0-9a-f])(19|20)\d{2}(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])(?![0-9a-f])")


def identifying_strings(study) -> list[str]:
    """Strings that must not appear in an export of ``study``: the source file name (a single file) or the source
    folder name (a series), when long and distinctive enough not to occur by chance in hex digests."""
    src = [Path(s) for s in (study.source or [])]
    cands = [src[0].name.split(".")[0]] if len(src) == 1 else ([src[0].parent.name] if src else [])
    return sorted(c for c in cands if len(c) >= 6 and re.search(r"[g-zG-Z_]", c))


def find_identifiers(text: str, forbidden=()) -> list[str]:
    """The forbidden strings (case-insensitive) and calendar dates (YYYYMMDD) found in ``text``."""
    low = text.lower()
    hits = [f for f in forbidden if f and f.lower() in low]
    hits += [m.group(0) for m in _DATE_RE.finditer(text)]
    return hits


def check_text(text: str, forbidden, where: str) -> None:
    hits = find_identifiers(text, forbidden)
    if hits:
        raise DeidentificationError(f"{where} would contain identifying text ({', '.join(sorted(set(hits)))}); "
                                    "nothing was written.")
