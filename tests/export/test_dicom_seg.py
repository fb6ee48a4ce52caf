"""DICOM SEG of a corrected label on a real MR series: references the source series and reads back to the same mask."""

from __future__ import annotations

import numpy as np

from tests.conftest import require_data
from viewer.export import ExportCase, export_cases
from viewer.export.cli import write_segs
from viewer.export.dicom_seg import read_dicom_seg, write_dicom_seg
from viewer.io import open_study


def test_dicom_seg_round_trip_references_source(tmp_path):
    import pydicom

    study = open_study(require_data("dicom_series", "pgbm003_t1post"))
    labels = np.zeros(study.shape, np.uint8)
    labels[5:9, 100:140, 80:120] = 1
    labels[10, 50:60, 50:70] = 2
    out = write_dicom_seg(study, labels, tmp_path / "seg.dcm", {1: "tumour", 2: "oedema"},
                          {"id": "brain_mri", "version": "1.0.1"})
    ds = pydicom.dcmread(out)
    assert ds.Modality == "SEG" and ds.StudyInstanceUID == study.metadata["StudyInstanceUID"]
    assert ds.FrameOfReferenceUID == study.metadata["FrameOfReferenceUID"]
    ref = ds.ReferencedSeriesSequence[0]
    assert ref.SeriesInstanceUID == study.metadata["SeriesInstanceUID"]
    assert {r.ReferencedSOPInstanceUID for r in ref.ReferencedInstanceSequence} == set(study.metadata["SOPInstanceUIDs"])
    assert [s.SegmentLabel for s in ds.SegmentSequence] == ["tumour", "oedema"]
    assert np.array_equal(read_dicom_seg(out, study), labels)


def test_export_of_a_dicom_study_writes_seg_outside_the_dataset(tmp_path):
    study = open_study(require_data("dicom_series", "pgbm003_t1post"))
    labels = np.zeros(study.shape, np.uint8)
    labels[3:6, 120:160, 100:150] = 1
    case = ExportCase(study, labels, {1: "tumour"})
    rep = export_cases([case], tmp_path / "raw", "brain_mri", dataset_id=505)
    assert rep.dataset.name == "Dataset505_BrainMri"
    segs = write_segs([case], rep, tmp_path / "pacs")
    assert len(segs) == 1 and rep.dataset not in segs[0].parents and segs[0].name == f"{rep.added[0]}_seg.dcm"
    assert np.array_equal(read_dicom_seg(segs[0], study), labels)
