"""I/O benchmark: open_study against a bare pydicom loop and SimpleITK on the same files, in the same run.

Cases: the 192-slice MR series in ../shared/data/dicom_series, and a 256x256x155 NIfTI.gz made from it (the first
155 sagittal slices, int16) in a temporary folder.  Runs are interleaved (ours, pydicom, SimpleITK, ours, ...) so
the machine's noise hits all three alike; the medians and the ratio to the faster baseline are reported.
Memory: tracemalloc's retained bytes of a Study divided by its voxel array's bytes (target <= 1.1).

    medroute bench --suite io --json
"""

from __future__ import annotations

import gc
import os
import statistics
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("MEDROUTE_SHARED_DATA", ROOT.parent / "shared" / "data"))


def _pydicom_loop(files):
    import pydicom

    dss = [pydicom.dcmread(f) for f in files]
    o = dss[0].ImageOrientationPatient
    n = np.cross([float(v) for v in o[:3]], [float(v) for v in o[3:]])
    dss.sort(key=lambda d: float(np.dot([float(v) for v in d.ImagePositionPatient], n)))
    return np.stack([d.pixel_array for d in dss])


def _sitk_series(files):
    import SimpleITK as sitk

    r = sitk.ImageSeriesReader()
    # GDCM's sorter orders by position, as a user of the baseline would
    r.SetFileNames(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(Path(files[0]).parent)))
    return sitk.GetArrayFromImage(r.Execute())


def _nib(path):
    import nibabel as nib

    return np.asanyarray(nib.load(str(path)).dataobj)


def _sitk_file(path):
    import SimpleITK as sitk

    return sitk.GetArrayFromImage(sitk.ReadImage(str(path)))


def _time(fn, *a) -> float:
    t = time.perf_counter()
    fn(*a)
    return (time.perf_counter() - t) * 1000.0


def _interleaved(cases: dict, repeats: int) -> dict:
    times = {k: [] for k in cases}
    for name, (fn, arg) in cases.items():  # warm-up (imports, file cache)
        fn(arg)
    for _ in range(repeats):
        for name, (fn, arg) in cases.items():
            gc.collect()
            times[name].append(_time(fn, arg))
    return {k: {"median_ms": round(statistics.median(v), 2), "min_ms": round(min(v), 2), "runs": len(v)} for k, v in times.items()}


def _memory_ratio(path) -> dict:
    from viewer.io import open_study

    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    st = open_study(path)
    gc.collect()
    current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "voxel_bytes": st.nbytes,
        "retained_bytes": current - base,
        "retained_ratio": round((current - base) / st.nbytes, 3),
        "peak_ratio": round((peak - base) / st.nbytes, 3),
    }


def run(quick: bool = False) -> dict:
    from viewer.io import open_study

    repeats = 3 if quick else 9
    series = DATA / "dicom_series" / "sag_anon_t1_mprage"
    if not series.is_dir():
        return {"error": f"development data not found at {series}"}
    files = sorted(str(p) for p in series.glob("*.dcm"))
    out: dict = {}
    dicom = _interleaved(
        {
            "medroute": (open_study, series),
            "pydicom_loop": (_pydicom_loop, files),
            "simpleitk_series": (_sitk_series, files),
        },
        repeats,
    )
    fastest = min(dicom["pydicom_loop"]["median_ms"], dicom["simpleitk_series"]["median_ms"])
    dicom["ratio_to_fastest_baseline"] = round(dicom["medroute"]["median_ms"] / fastest, 3)
    dicom["slices"] = len(files)
    out["dicom_series_192"] = dicom

    with tempfile.TemporaryDirectory() as td:
        import nibabel as nib

        vol = open_study(series).voxels[:155].astype(np.int16)  # (155, 256, 256) -> NIfTI 256 x 256 x 155
        st = open_study(series)
        nii = Path(td) / "sag_155.nii.gz"
        nib.save(nib.Nifti1Image(np.ascontiguousarray(vol.transpose(2, 1, 0)), st.geometry.to_nifti_affine()), str(nii))
        nifti = _interleaved(
            {"medroute": (open_study, nii), "nibabel": (_nib, nii), "simpleitk": (_sitk_file, nii)}, repeats
        )
        fastest = min(nifti["nibabel"]["median_ms"], nifti["simpleitk"]["median_ms"])
        nifti["ratio_to_fastest_baseline"] = round(nifti["medroute"]["median_ms"] / fastest, 3)
        nifti["shape_xyz"] = [256, 256, 155]
        out["nifti_gz_256x256x155"] = nifti
        out["memory"] = {"dicom_series_192": _memory_ratio(series), "nifti_gz": _memory_ratio(nii)}
    out["targets"] = {"ratio_to_fastest_baseline": "<= 1.0", "memory_retained_ratio": "<= 1.1"}
    return out


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
