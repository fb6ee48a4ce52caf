"""Export from saved sessions (CLI) and from the GUI's File -> Export for retraining (offscreen)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest

from tests.export.conftest import brain_pairs
from viewer.io import open_study


def _session(tmp_path):
    from viewer.editing import Session
    from viewer.io import load_labels
    from viewer.model.labels import LabelMap

    img, lab = brain_pairs(tmp_path)
    p = sorted(img.iterdir())[0]
    study = open_study(p)
    lm = LabelMap.from_array(load_labels(lab / p.name, study), study, {1: "FLAIR abnormality"})
    s = Session(study, lm)
    s.editor.paint((0, 1, 0, 10, 0, 10), None, 1, respect_options=False)
    return s


def test_cli_export_from_saved_session(tmp_path, capsys):
    from viewer.cli import main

    s = _session(tmp_path)
    path = s.save(tmp_path / "work.mrsession")
    assert main(["export", str(path), "--task", "brain_mri", "--format", "msd", "--out", str(tmp_path / "msd"),
                 "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    ds = tmp_path / "msd" / "Task51_BrainMri"
    assert rep["dataset"] == str(ds) and rep["numTraining"] == 1
    dj = json.loads((ds / "dataset.json").read_text())
    assert dj["labels"] == {"0": "background", "1": "FLAIR abnormality"}
    prov = json.loads((ds / "provenance" / f"{rep['added'][0]}.json").read_text())
    assert prov["edited_slices"] == [0] and prov["slice_counts"]["hand"] == 1 and "session_saved_at" in prov


@pytest.mark.gui
def test_gui_export_dialog(tmp_path, qtbot):
    from viewer.ui.export_dialog import ExportDialog, run_export

    s = _session(tmp_path)
    dlg = ExportDialog(None, ["brain_mri"], "brain_mri", False, str(tmp_path / "raw"))
    qtbot.addWidget(dlg)
    assert not dlg.seg.isEnabled()
    opts = dlg.options()
    assert opts == {"task": "brain_mri", "fmt": "nnunet", "out": str(tmp_path / "raw"), "overwrite": False,
                    "dicom_seg": False}
    win = SimpleNamespace(study=s.study, labelmap=s.labelmap, editing=SimpleNamespace(ensure_session=lambda: s))
    rep = run_export(win, opts)
    assert rep.dataset.name == "Dataset501_BrainMri" and rep.num_training == 1
    assert np.array_equal(np.asarray(__import__("PIL.Image", fromlist=["x"]).open(
        rep.dataset / "labelsTr" / f"{rep.added[0]}.png")), s.labelmap.data[0])
