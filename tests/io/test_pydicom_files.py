"""Every DICOM file shipped inside pydicom and pydicom-data either loads with pixels equal to pydicom's own
``pixel_array`` (after the documented modality rescale and MONOCHROME1 inversion) or raises the project's error."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest

from viewer.errors import MedRouteError
from viewer.io import open_study


def _dicom_test_files() -> list[Path]:
    roots = [Path(pydicom.__file__).parent / "data" / "test_files"]
    try:
        import data_store  # the pydicom-data package

        roots.append(Path(data_store.__file__).parent / "data")
    except ImportError:
        pass
    out = []
    for r in roots:
        out += [p for p in sorted(r.rglob("*")) if p.is_file() and p.suffix.lower() not in (".py", ".pyc", ".gz", ".bz2", ".txt", ".json", ".md", ".zip", ".xz")]
    return out


FILES = _dicom_test_files()


def _expected(path: Path, study) -> np.ndarray:
    from pydicom.pixels import apply_color_lut, apply_modality_lut

    ds = pydicom.dcmread(path, force=True)
    arr = ds.pixel_array
    n = int(ds.get("NumberOfFrames", 1) or 1)
    if arr.ndim == (2 if int(ds.get("SamplesPerPixel", 1)) == 1 else 3):
        arr = arr[None]
    if ds.get("PhotometricInterpretation") == "PALETTE COLOR":
        arr = apply_color_lut(arr, ds)
        if arr.dtype == np.uint16:
            arr = (arr >> 8).astype(np.uint8)
    elif "ModalityLUTSequence" in ds and n == 1:
        arr = apply_modality_lut(arr[0], ds)[None]
    else:
        frames = []
        idx = study.metadata.get("frame_indices") or [None] * arr.shape[0]
        from viewer.io.dicom import _rescale

        for k in range(arr.shape[0]):
            s, i = _rescale(ds, k if n > 1 else None)
            frames.append(arr[k] * s + i if (s, i) != (1.0, 0.0) else arr[k])
        arr = np.stack(frames)
    idx = study.metadata.get("frame_indices")
    if idx and idx[0] is not None:
        arr = arr[idx]
    if ds.get("PhotometricInterpretation") == "MONOCHROME1":
        arr = arr.astype(np.float64)
        arr = arr.min() + arr.max() - arr
    return arr


def test_pydicom_and_pydicom_data_files_load_or_raise_our_error(record_property):
    assert len(FILES) > 150, "pydicom's bundled test files were not found"
    loaded, refused, other = [], [], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for f in FILES:
            try:
                st = open_study(f)
            except MedRouteError as e:
                assert str(e) and "\n" not in str(e).strip(), f"{f.name}: one readable sentence expected"
                refused.append((f.name, type(e).__name__))
                continue
            except Exception as e:  # pragma: no cover - the assertion below reports it
                other.append((f.name, repr(e)[:200]))
                continue
            try:
                exp = _expected(f, st)
            except Exception:  # pydicom itself cannot decode it the plain way; we did (e.g. via functional groups)
                loaded.append(f.name)
                continue
            got = st.voxels
            assert got.size == exp.size, f"{f.name}: shape {got.shape} vs pydicom {exp.shape}"
            np.testing.assert_allclose(
                got.reshape(-1).astype(np.float64), exp.reshape(-1).astype(np.float64), rtol=1e-5, atol=1e-3,
                err_msg=f"{f.name}: pixels differ from pydicom's pixel_array",
            )
            loaded.append(f.name)
    assert not other, f"non-MedRoute errors escaped: {other}"
    record_property("loaded", len(loaded))
    record_property("refused", len(refused))
    print(f"\npydicom test files: {len(loaded)} loaded, {len(refused)} refused with a clear error, of {len(FILES)}")
    assert len(loaded) > 100
