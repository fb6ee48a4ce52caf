"""Export edge cases found in review: where DICOM SEGs may go, cases that cannot have one, label values kept in a SEG,
patients grouped across studies, appending by dataset id, folders that refuse files."""

from __future__ import annotations

import json

import numpy as np
import pytest
from pydicom.data import get_testdata_file

from tests.conftest import require_data
from viewer.errors import SaveError
from viewer.export import ExportCase, ExportError, export_cases, validate_dataset
from viewer.export.cli import export_with_segs
from viewer.export.dicom_seg import read_dicom_seg, seg_problem, write_dicom_seg
from viewer.io import open_study


def _case(path, box=(slice(5, 8), slice(100, 130), slice(80, 120)), value=1):
    study = open_study(path)
    labels = np.zeros(study.shape, np.uint8)
    if box is not None:
        labels[box] = value
    return ExportCase(study, labels, {value: "tumour"})


def test_a_seg_folder_inside_the_dataset_is_refused_before_anything_is_written(tmp_path):
    case = _case(require_data("dicom_series", "pgbm003_t1post"))
    with pytest.raises(ExportError, match="inside the training dataset"):
        export_with_segs([case], tmp_path / "raw", "brain_mri", seg_dir=tmp_path / "raw" / "Dataset505_BrainMri" / "seg",
                         dataset_id=505)
    assert not (tmp_path / "raw" / "Dataset505_BrainMri").exists()


def test_cases_without_a_possible_seg_are_named_and_the_others_get_one(tmp_path):
    with_labels = _case(require_data("dicom_series", "pgbm003_t1post"))
    empty = _case(require_data("dicom_series", "sag_anon_t1_mprage"), box=None)
    rep = export_with_segs([with_labels, empty], tmp_path / "raw", "brain_mri", seg_dir=tmp_path / "pacs")
    assert rep.num_training == 2 and validate_dataset(rep.dataset) == []
    assert len(rep.dicom_seg) == 1 and rep.dicom_seg[0].parent == tmp_path / "pacs"
    assert len(rep.notes) == 1 and "empty" in rep.notes[0] and empty.study.name in rep.notes[0]
    assert np.array_equal(read_dicom_seg(rep.dicom_seg[0], with_labels.study), with_labels.labels)


def test_a_multiframe_file_is_named_as_unsupported_not_crashed_on():
    study = open_study(get_testdata_file("SC_rgb_rle_2frame.dcm"))
    assert study.shape[0] == 2
    assert "multi-frame" in seg_problem(study, np.ones(study.shape, np.uint8))


def test_seg_keeps_label_values_and_reads_back_without_patient_geometry(tmp_path):
    import highdicom as hd

    study = open_study(require_data("dicom_series", "pgbm003_t1post"))
    labels = np.zeros(study.shape, np.uint8)
    labels[4:7, 100:140, 80:120] = 1
    labels[10, 50:60, 50:70] = 3  # not consecutive: segment 2 must come back as 3
    out = write_dicom_seg(study, labels, tmp_path / "seg.dcm", {1: "tumour", 3: "oedema"})
    assert [s.TrackingID for s in hd.seg.segread(str(out)).SegmentSequence] == ["label value 1", "label value 3"]
    assert np.array_equal(read_dicom_seg(out, study), labels)
    # a secondary-capture image has pixel spacing but no slice thickness or position: still a readable SEG
    sc = open_study(get_testdata_file("SC_rgb.dcm"))
    lab = np.zeros(sc.shape, np.uint8)
    lab[0, 10:30, 10:30] = 2
    p = write_dicom_seg(sc, lab, tmp_path / "sc_seg.dcm")
    hd.seg.segread(str(p))
    assert np.array_equal(read_dicom_seg(p, sc), lab)


def test_reading_something_that_is_not_a_seg_is_a_typed_error(tmp_path):
    study = open_study(get_testdata_file("CT_small.dcm"))
    with pytest.raises(ExportError, match="not a DICOM Segmentation"):
        read_dicom_seg(get_testdata_file("CT_small.dcm"), study)


def test_two_studies_of_one_patient_share_a_split_group(tmp_path):
    import pydicom
    from pydicom.uid import generate_uid

    src = require_data("dicom_series", "pgbm003_t1post")
    follow = tmp_path / "followup"
    follow.mkdir()
    study_uid, series_uid = generate_uid(), generate_uid()
    for f in sorted(src.glob("*.dcm")):  # the same patient, a later study: new study, series and instance UIDs
        d = pydicom.dcmread(f)
        d.StudyInstanceUID, d.SeriesInstanceUID, d.StudyDate = study_uid, series_uid, "20200421"
        d.SOPInstanceUID = d.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        d.save_as(follow / f.name)
    other = _case(require_data("dicom_series", "sag_anon_t1_mprage"))
    rep = export_cases([_case(src), _case(follow), other], tmp_path / "raw", "brain_mri")
    groups = json.loads((rep.dataset / "dataset.json").read_text())["medroute"]["groups"]
    first, second, third = (groups[c] for c in rep.added)
    assert first == second != third
    assert "PGBM-003" not in (rep.dataset / "dataset.json").read_text()  # the patient id itself is never written


def test_appending_by_dataset_id_and_refusing_another_task_under_it(tmp_path):
    a = _case(require_data("dicom_series", "pgbm003_t1post"))
    b = _case(require_data("dicom_series", "sag_anon_t1_mprage"))
    r1 = export_cases([a], tmp_path / "raw", "brain_mri", dataset_id=604)
    r2 = export_cases([b], tmp_path / "raw", "brain_mri", dataset_id=604)
    assert r2.dataset == r1.dataset and r2.num_training == 2
    with pytest.raises(ExportError, match="already used"):
        export_cases([b], tmp_path / "raw", "polyp", dataset_id=604)


def test_folders_that_refuse_files_give_typed_errors(tmp_path, monkeypatch):
    import tempfile

    from tests.editing.editing_helpers import make_session
    from tests.editing.test_history_session import stroke
    from viewer.editing.autosave import Autosaver
    from viewer.io._common import atomic_write_bytes

    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    with pytest.raises(ExportError, match="cannot be created or written"):  # --out under a plain file
        export_cases([_case(get_testdata_file("CT_small.dcm"), box=(0, slice(5, 9), slice(5, 9)))],
                     blocker / "raw", "ct")

    def refuse(*a, **k):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", refuse)  # a read-only folder (root ignores chmod, so simulate it)
    with pytest.raises(SaveError, match="does not accept new files"):
        atomic_write_bytes(tmp_path / "x.bin", b"1")
    session = make_session()
    saver = Autosaver(session, path=tmp_path / "rec.mrsession", interval_s=1.0, background=True)
    stroke(session.editor, 2, [(5, 5)])
    saver.save_now()
    saver.wait()
    assert "does not accept new files" in saver.last_error and saver.dirty()  # the UI is told; edits stay unsaved
