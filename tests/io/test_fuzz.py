"""Byte-mutation fuzzing of real files: whatever the damage, only the project's own error escapes.

Deterministic (seeded) so a failure reproduces; ``MEDROUTE_FUZZ_CASES`` raises the count (default 600).
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest

from viewer.errors import MedRouteError
from viewer.io import open_study

TEST_FILES = Path(pydicom.__file__).parent / "data" / "test_files"
N_CASES = int(os.environ.get("MEDROUTE_FUZZ_CASES", "600"))


def _seeds(tmp: Path) -> dict[str, bytes]:
    seeds = {}
    for name in ("CT_small.dcm", "MR_small.dcm", "JPEG2000.dcm", "emri_small.dcm", "SC_rgb_rle.dcm",
                 "MR_small_jpeg_ls_lossless.dcm", "JPEG-LL.dcm", "rtdose.dcm"):
        p = TEST_FILES / name
        if p.exists():
            seeds[name] = p.read_bytes()
    nib_data = Path(nib.__file__).parent / "tests" / "data"
    for name in ("anatomical.nii", "example4d.nii.gz"):
        if (nib_data / name).exists():
            seeds[name] = (nib_data / name).read_bytes()
    from PIL import Image

    rng = np.random.default_rng(1)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (48, 40, 3), dtype=np.uint8)).save(buf, format="PNG")
    seeds["rgb.png"] = buf.getvalue()
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 65535, (32, 32), dtype=np.uint16)).save(buf, format="PNG")
    seeds["grey16.png"] = buf.getvalue()
    buf = io.BytesIO()
    import tifffile

    tifffile.imwrite(buf, rng.integers(0, 255, (3, 20, 20), dtype=np.uint8), photometric="minisblack")
    seeds["stack.tif"] = buf.getvalue()
    import SimpleITK as sitk

    img = sitk.GetImageFromArray(rng.integers(0, 1000, (6, 10, 12)).astype(np.int16))
    sitk.WriteImage(img, str(tmp / "seed.nrrd"))
    seeds["vol.nrrd"] = (tmp / "seed.nrrd").read_bytes()
    return seeds


def _mutate(data: bytes, rng: np.random.Generator) -> bytes:
    b = bytearray(data)
    op = rng.integers(0, 6)
    n = len(b)
    if op == 0:  # truncate
        return bytes(b[: int(rng.integers(0, n))])
    if op == 1:  # flip random bytes, concentrated in the header
        for _ in range(int(rng.integers(1, 20))):
            i = int(rng.integers(0, min(n, 2048) if rng.random() < 0.8 else n))
            b[i] = int(rng.integers(0, 256))
        return bytes(b)
    if op == 2:  # overwrite a run with 0xFF (huge lengths, sizes)
        i = int(rng.integers(0, max(1, min(n, 1024))))
        b[i:i + int(rng.integers(1, 16))] = b"\xff" * int(rng.integers(1, 16))
        return bytes(b)
    if op == 3:  # delete a chunk
        i = int(rng.integers(0, n))
        return bytes(b[:i] + b[i + int(rng.integers(1, 512)):])
    if op == 4:  # insert random bytes
        i = int(rng.integers(0, n))
        return bytes(b[:i] + rng.integers(0, 256, int(rng.integers(1, 64)), dtype=np.uint8).tobytes() + b[i:])
    # op 5: zero a region
    i = int(rng.integers(0, n))
    b[i:i + int(rng.integers(1, 256))] = b"\0" * len(b[i:i + int(rng.integers(1, 256))])
    return bytes(b)


def test_fuzz_only_medroute_errors_escape(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDROUTE_MAX_STUDY_BYTES", "256M")  # mutated sizes must be refused, not allocated
    seeds = _seeds(tmp_path)
    assert len(seeds) >= 10
    rng = np.random.default_rng(20261121)
    names = sorted(seeds)
    escaped = []
    outcomes = {"loaded": 0, "refused": 0}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for case in range(N_CASES):
            name = names[case % len(names)]
            data = _mutate(seeds[name], rng)
            f = tmp_path / f"case{case}_{name}"
            f.write_bytes(data)
            try:
                open_study(f)
                outcomes["loaded"] += 1
            except MedRouteError as e:
                assert str(e).strip(), f"case {case} ({name}): empty error message"
                outcomes["refused"] += 1
            except Exception as e:  # noqa: BLE001 - this is what the test hunts for
                escaped.append((case, name, repr(e)[:200]))
            f.unlink()
    assert not escaped, f"{len(escaped)} non-MedRoute errors escaped, e.g. {escaped[:5]}"
    assert outcomes["loaded"] + outcomes["refused"] == N_CASES
    print(f"\nfuzz: {outcomes} over {N_CASES} cases")
    assert outcomes["refused"] > N_CASES // 10, outcomes  # the mutations really do damage files
