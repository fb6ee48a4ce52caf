"""DICOM Segmentation objects (highdicom) for studies that came from DICOM, so corrected labels can go back to PACS.

The SEG references the source series (its instances are the ``source_images``; each frame points at the source
SOP instance it lies on) and shares the source's Study and Frame of Reference, so a PACS files it with the study
and a viewer overlays it.  It is meant for the hospital's own archive: like the source images it carries the
patient module of the source (that is what lets the PACS match it) and is therefore never written into an exported
training dataset.  No Qt.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import __version__
from ..io._common import atomic_path
from .deid import ExportError

DEFAULT_COLOURS = {1: (255, 90, 54)}


def _source_datasets(study) -> list:
    import pydicom

    uids = list(study.metadata.get("SOPInstanceUIDs") or [])
    if not study.format.upper().startswith("DICOM") or not study.source or len(uids) != study.shape[0]:
        raise ExportError("A DICOM Segmentation needs a study opened from a DICOM series (one file per slice).")
    by_uid = {}
    for f in study.source:
        ds = pydicom.dcmread(f)
        by_uid[str(ds.SOPInstanceUID)] = ds
    missing = [u for u in uids if u not in by_uid]
    if missing:
        raise ExportError(f"{len(missing)} source image(s) of this series can no longer be read; the DICOM "
                          "Segmentation cannot reference them.")
    return [by_uid[u] for u in uids]  # z order, as the label volume


def write_dicom_seg(study, labels: np.ndarray, out_path, label_names: dict[int, str] | None = None,
                    algorithm: dict | None = None, series_description: str = "MedRoute corrected segmentation") -> Path:
    """Write ``labels`` (uint8 ``(z, y, x)`` on ``study``'s grid) as a binary DICOM SEG at ``out_path``."""
    import highdicom as hd
    from highdicom.sr.coding import CodedConcept
    from pydicom.sr.codedict import codes

    labels = np.asarray(labels)
    if tuple(labels.shape) != tuple(study.shape):
        raise ExportError(f"The labels {labels.shape} do not lie on the study's grid {study.shape}.")
    sources = _source_datasets(study)
    if (int(sources[0].Rows), int(sources[0].Columns)) != tuple(labels.shape[1:]):
        raise ExportError("The labels do not match the size of the source DICOM images.")
    values = [int(v) for v in np.unique(labels) if v]
    if not values:
        raise ExportError("The label map is empty; there is no segmentation to send to PACS.")
    names = label_names or {}
    if algorithm:
        alg = hd.AlgorithmIdentificationSequence(name=str(algorithm.get("id", "medroute")),
                                                 version=str(algorithm.get("version", "")) or "1",
                                                 family=codes.cid7162.ArtificialIntelligence)
        kind = hd.seg.SegmentAlgorithmTypeValues.SEMIAUTOMATIC  # a model result, corrected by hand
    else:
        alg, kind = None, hd.seg.SegmentAlgorithmTypeValues.MANUAL
    descriptions = []
    for i, v in enumerate(values, start=1):
        descriptions.append(hd.seg.SegmentDescription(
            segment_number=i, segment_label=str(names.get(v, f"label {v}"))[:64],
            segmented_property_category=codes.SCT.MorphologicallyAbnormalStructure,
            segmented_property_type=CodedConcept("49755003", "SCT", "Morphologically abnormal structure"),
            algorithm_type=kind, algorithm_identification=alg))
    # (frames, rows, cols, segments): one binary plane per segment, frames in the order of source_images
    mask = np.stack([labels == v for v in values], axis=-1).astype(np.uint8)
    seg = hd.seg.Segmentation(
        source_images=sources, pixel_array=mask, segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=descriptions, series_instance_uid=hd.UID(), series_number=9901,
        sop_instance_uid=hd.UID(), instance_number=1, manufacturer="MedRoute",
        manufacturer_model_name="MedRoute Viewer", software_versions=str(__version__),
        device_serial_number="medroute", series_description=series_description, omit_empty_frames=False)
    out_path = Path(out_path)
    with atomic_path(out_path) as tmp:
        seg.save_as(str(tmp))
    return out_path


def read_dicom_seg(path, study) -> np.ndarray:
    """Read a SEG back onto ``study``'s grid: uint8 ``(z, y, x)`` with the segment numbers mapped to label values
    given by their order (segment 1 = the smallest exported label value...)."""
    import highdicom as hd

    seg = hd.seg.segread(str(path))
    uids = list(study.metadata.get("SOPInstanceUIDs") or [])
    arr = seg.get_pixels_by_source_instance(source_sop_instance_uids=uids, combine_segments=True, relabel=False)
    return np.asarray(arr, dtype=np.uint8)
