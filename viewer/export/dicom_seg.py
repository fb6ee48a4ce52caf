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
TRACKING_PREFIX = "label value "  # each segment's Tracking ID keeps the label value it was made from


def _source_datasets(study) -> list:
    import pydicom

    problem = seg_problem(study)
    if problem:
        raise ExportError(problem)
    uids = list(study.metadata.get("SOPInstanceUIDs") or [])
    by_uid = {}
    for f in study.source:
        ds = pydicom.dcmread(f)
        by_uid[str(ds.SOPInstanceUID)] = ds
    missing = [u for u in uids if u not in by_uid]
    if missing:
        raise ExportError(f"{len(missing)} source image(s) of this series can no longer be read; the DICOM "
                          "Segmentation cannot reference them.")
    return [by_uid[u] for u in uids]  # z order, as the label volume


def seg_problem(study, labels: np.ndarray | None = None) -> str:
    """Why no DICOM SEG can be written for ``study`` (and ``labels``), or "" when one can.  Cheap: no pixel data is
    read, so an export can check every case before it writes anything."""
    uids = list(study.metadata.get("SOPInstanceUIDs") or [])
    if not str(study.format).upper().startswith("DICOM") or not study.source:
        return "A DICOM Segmentation needs a study opened from DICOM files."
    if len(uids) != study.shape[0] or len(set(uids)) != len(uids):
        return ("A DICOM Segmentation can be written for a series with one DICOM file per slice; this study is a "
                "multi-frame DICOM file, which is not supported yet.")
    if labels is not None and not np.any(labels):
        return "The label map is empty; there is no segmentation to send to PACS."
    return ""


def _value_of(segment) -> int | None:
    """The label value a MedRoute SEG stored in a segment's Tracking ID ("label value 3"), else None."""
    tid = str(getattr(segment, "TrackingID", "") or "")
    value = tid[len(TRACKING_PREFIX):] if tid.startswith(TRACKING_PREFIX) else ""
    return int(value) if value.isdigit() else None


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
        raise ExportError(seg_problem(study, labels))
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
            algorithm_type=kind, algorithm_identification=alg,
            tracking_id=f"{TRACKING_PREFIX}{v}", tracking_uid=hd.UID()))
    # (frames, rows, cols, segments): one binary plane per segment, frames in the order of source_images
    mask = np.stack([labels == v for v in values], axis=-1).astype(np.uint8)
    seg = hd.seg.Segmentation(
        source_images=sources, pixel_array=mask, segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=descriptions, series_instance_uid=hd.UID(), series_number=9901,
        sop_instance_uid=hd.UID(), instance_number=1, manufacturer="MedRoute",
        manufacturer_model_name="MedRoute Viewer", software_versions=str(__version__),
        device_serial_number="medroute", series_description=series_description, omit_empty_frames=False)
    src = sources[0]
    if "PixelSpacing" in src and not src.get("SliceThickness") and "ImagePositionPatient" not in src:
        # a 2-D image with no patient geometry (secondary capture): highdicom copies its Pixel Spacing into a Pixel
        # Measures item that then lacks the Slice Thickness readers require; no thickness is known, so leave it out
        del seg.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence
    out_path = Path(out_path)
    with atomic_path(out_path) as tmp:
        seg.save_as(str(tmp))
        try:  # what PACS will get must read back to exactly these labels
            back = read_dicom_seg(tmp, study)
        except ExportError as e:
            raise ExportError(f"The DICOM Segmentation written for {study.name} cannot be read back ({e}); "
                              "nothing was saved.") from e
        if not np.array_equal(back, labels):
            raise ExportError(f"The DICOM Segmentation written for {study.name} does not read back to the same "
                              "labels; nothing was saved.")
    return out_path


def read_dicom_seg(path, study) -> np.ndarray:
    """Read a SEG back onto ``study``'s grid: uint8 ``(z, y, x)``.  Segments written by MedRoute get back their
    label values (kept in each segment's Tracking ID); other SEGs' segments keep their segment numbers."""
    import highdicom as hd

    try:
        seg = hd.seg.segread(str(path))
        uids = list(study.metadata.get("SOPInstanceUIDs") or [])
        arr = np.asarray(seg.get_pixels_by_source_instance(source_sop_instance_uids=uids, combine_segments=True,
                                                           relabel=False), dtype=np.uint8)
    except (AttributeError, KeyError, ValueError, TypeError, OSError) as e:
        raise ExportError(f"{Path(path).name} is not a DICOM Segmentation of this study that can be read "
                          f"({type(e).__name__}: {e}).") from e
    lut = np.arange(256, dtype=np.uint8)
    for item in seg.SegmentSequence:
        v = _value_of(item)
        if v is not None and 0 < v < 256:
            lut[int(item.SegmentNumber)] = v
    return lut[arr]
