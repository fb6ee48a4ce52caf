"""Labels loaded from a file are someone's work: a model result asks before replacing them (headless)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import require_data
from viewer.editing import CANCEL, FILL_EMPTY, Session, apply_model_result
from viewer.editing.model_result import needs_choice
from viewer.errors import EditConflictError


def _hippo_session():
    from viewer.io import load_labels, open_study
    from viewer.model.labels import LabelMap

    root = require_data("nifti", "msd_task04_hippocampus")
    study = open_study(root / "images" / "hippocampus_001.nii.gz")
    expert = load_labels(root / "labels" / "hippocampus_001.nii.gz", study)
    s = Session(study, LabelMap.from_array(expert, study))
    s.provenance.mark_file(s.labelmap.data)  # what the viewer does when it loads a label file or a session
    return s, np.asarray(s.labelmap.data).copy()


def test_expert_labels_from_a_file_are_protected_and_their_provenance_is_kept():
    from viewer.export.cases import session_provenance

    s, expert = _hippo_session()
    labelled = [int(z) for z in np.flatnonzero(expert.any(axis=(1, 2)))]
    assert labelled and {s.provenance.source(z) for z in labelled} == {"file"}
    assert s.provenance.get(int(np.flatnonzero(~expert.any(axis=(1, 2)))[0])) is None  # empty slices: no source
    assert needs_choice(s)
    model = np.zeros_like(expert)
    model[:, :4, :4] = 1
    with pytest.raises(EditConflictError):
        apply_model_result(s, model, {"plugin": "hippocampus", "version": "1"})
    assert apply_model_result(s, model, {"plugin": "hippocampus", "version": "1"}, CANCEL) is None
    assert np.array_equal(s.labelmap.data, expert)
    apply_model_result(s, model, {"plugin": "hippocampus", "version": "1"}, FILL_EMPTY)
    assert np.array_equal(s.labelmap.data[labelled], expert[labelled])  # the expert's slices untouched
    z = labelled[0]
    s.editor.paint((z, z + 1, 0, 3, 0, 3), None, 2)  # a hand correction of a loaded slice
    assert s.provenance.get(z) == {"source": "edited", "from": "file"}
    prov = session_provenance(s)
    assert prov["slice_counts"]["file"] == len(labelled) - 1 and prov["edited_slices"] == [z]
    assert prov["slice_sources"][str(labelled[-1])] == "file"
    s.editor.undo()
    assert s.provenance.source(z) == "file"
