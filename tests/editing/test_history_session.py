"""Undo/redo (bit-exact, grouped, bounded), provenance, model results, sessions and autosave - no Qt."""

from __future__ import annotations

import numpy as np
import pytest
from tests.editing.editing_helpers import make_session

from viewer.editing import (
    CANCEL, FILL_EMPTY, REPLACE, Autosaver, BrushTool, PointerEvent, Session, apply_model_result, find_recovery,
    label_statistics,
)
from viewer.errors import EditConflictError, SessionError


def stroke(ed, z, pts, axis=0, label=None):
    if label is not None:
        ed.set_option(active_label=label)
    t = BrushTool(ed)
    t.press(PointerEvent("press", (z, *pts[0]), axis))
    for p in pts[1:]:
        t.move(PointerEvent("move", (z, *p), axis))
    t.release(PointerEvent("release", (z, *pts[-1]), axis))


def test_undo_redo_bit_exact_and_one_step_per_stroke(session):
    ed = session.editor
    rng = np.random.default_rng(1)
    snaps = [ed.data.copy()]
    for i in range(6):
        ed.set_option(brush_mm=float(rng.uniform(1, 9)))
        pts = [tuple(rng.uniform(0, 50, 2)) for _ in range(50)]
        stroke(ed, int(rng.integers(0, 12)), pts, label=int(rng.integers(1, 4)))
        snaps.append(ed.data.copy())
    assert len(session.history.undo_stack) == 6
    for i in range(6, 0, -1):
        ed.undo()
        assert np.array_equal(ed.data, snaps[i - 1])
    for i in range(1, 7):
        ed.redo()
        assert np.array_equal(ed.data, snaps[i])


def test_new_edit_clears_redo_and_memory_bound_drops_oldest(session):
    ed = session.editor
    stroke(ed, 1, [(10, 10), (10, 40)])
    stroke(ed, 2, [(10, 10), (10, 40)])
    ed.undo()
    assert session.history.can_redo()
    stroke(ed, 3, [(20, 10)])
    assert not session.history.can_redo()
    session.history.limit_bytes = 3000
    for z in range(8):
        stroke(ed, z, [(5, 5), (45, 55)])
    assert session.history.nbytes <= 3000 or len(session.history.undo_stack) == 1
    assert session.history.dropped > 0


def test_undo_step_memory_is_proportional_to_the_changed_region():
    s = make_session(shape=(40, 256, 256))
    ed = s.editor
    sizes = []
    for mm in (4.0, 16.0, 64.0):
        ed.set_option(brush_mm=mm)
        stroke(ed, 20, [(128, 128)])
        st = s.history.undo_stack[-1]
        sizes.append((st.atoms[0].n_changed, st.nbytes))
        ed.undo()
    vol = 40 * 256 * 256
    for n, b in sizes:
        assert b < 2.5 * n + 600 and b < vol / 20  # box/8 + old + new values + fixed overhead


def test_provenance_model_then_edit_and_hand(session):
    ed = session.editor
    model = np.zeros(ed.data.shape, np.uint8)
    model[2:5, 10:20, 10:20] = 1
    step = apply_model_result(session, model, {"plugin": "brain_mri", "version": "1.2"})
    assert step.name == "Model brain_mri 1.2"
    assert session.provenance.get(3) == {"source": "model", "plugin": "brain_mri", "version": "1.2"}
    stroke(ed, 3, [(30, 30)])
    stroke(ed, 8, [(30, 30)])
    assert session.provenance.source(3) == "edited" and session.provenance.source(8) == "hand"
    assert session.provenance.source(2) == "model"
    ed.undo()
    ed.undo()
    assert session.provenance.source(3) == "model" and session.provenance.get(8) is None


def test_model_result_asks_before_touching_manual_edits(session):
    ed = session.editor
    stroke(ed, 1, [(10, 10)], label=3)
    mine = ed.data.copy()
    model = np.zeros(ed.data.shape, np.uint8)
    model[0:4, 5:15, 5:15] = 1
    with pytest.raises(EditConflictError):
        apply_model_result(session, model, {"plugin": "m", "version": "1"})
    assert apply_model_result(session, model, {"plugin": "m", "version": "1"}, CANCEL) is None
    assert np.array_equal(ed.data, mine)
    apply_model_result(session, model, {"plugin": "m", "version": "1"}, FILL_EMPTY)
    assert np.array_equal(ed.data[1], mine[1])  # the edited slice kept the hand drawing
    assert np.array_equal(ed.data[[0, 2, 3]], model[[0, 2, 3]])
    assert session.provenance.source(1) == "hand" and session.provenance.source(0) == "model"
    ed.undo()
    assert np.array_equal(ed.data, mine)
    apply_model_result(session, model, {"plugin": "m", "version": "1"}, REPLACE)
    assert np.array_equal(ed.data, model)
    ed.undo()
    assert np.array_equal(ed.data, mine)


def test_statistics_in_millilitres():
    s = make_session(spacing=(0.5, 0.5, 2.0))
    s.editor.data[0, :10, :10] = 1
    s.editor.data[1, :4, :5] = 2
    s.labelmap.notify()
    rows = {r["value"]: r for r in label_statistics(s.labelmap)}
    assert rows[1]["voxels"] == 100 and rows[1]["ml"] == pytest.approx(100 * 0.5 / 1000)
    assert rows[2]["voxels"] == 20
    # a PNG/TIFF study has no pixel size in mm: counts only, no volume
    rows = {r["value"]: r for r in label_statistics(s.labelmap, spacing_known=False)}
    assert rows[1]["voxels"] == 100 and rows[1]["ml"] is None


def test_clear_and_delete_label_are_undoable(session):
    ed = session.editor
    stroke(ed, 1, [(10, 10)], label=1)
    stroke(ed, 2, [(10, 10)], label=2)
    before = ed.data.copy()
    ed.clear_slice(0, 1)
    assert not ed.data[1].any()
    ed.undo()
    ed.delete_label(2)
    assert 2 not in session.labelmap.table and not (ed.data == 2).any()
    ed.undo()
    assert 2 in session.labelmap.table and np.array_equal(ed.data, before)


def test_session_roundtrip_in_one_file(tmp_path, session):
    ed = session.editor
    stroke(ed, 4, [(10, 10), (20, 30)], label=7)
    session.labelmap.table.set(7, name="Lesion", color=(1, 2, 3))
    session.view_state.set_cursor((4, 20, 30))
    p = session.save(tmp_path / "case.mrsession")
    assert sorted(x.name for x in tmp_path.iterdir()) == ["case.mrsession"]  # no temp file left
    back = Session.load(p, study=session.study)
    assert np.array_equal(back.labelmap.data, ed.data)
    assert back.labelmap.table[7].name == "Lesion" and back.labelmap.table[7].color == (1, 2, 3)
    assert back.provenance.source(4) == "hand" and back.view_state.cursor == (4, 20, 30)
    assert back.editor.options.active_label == 7
    other = make_session(shape=(5, 5, 5))
    with pytest.raises(SessionError):
        Session.load(p, study=other.study)
    (tmp_path / "bad.mrsession").write_bytes(b"not a zip")
    with pytest.raises(SessionError):
        Session.load(tmp_path / "bad.mrsession", study=session.study)


@pytest.mark.parametrize("damage, match", [
    (lambda m: m.pop("study"), "which study"),
    (lambda m: m["view_state"].update(cursor=None), "damaged"),
    (lambda m: m.update(provenance={"3": "garbage"}), "damaged"),
    (lambda m: m.update(version=99), "newer MedRoute"),
    (lambda m: m.update(version="1.0"), "not a number"),
])
def test_a_damaged_session_file_is_a_typed_error(tmp_path, session, damage, match):
    import json
    import zipfile

    from viewer.editing.session import read_session_file, write_session_file

    stroke(session.editor, 4, [(10, 10)])
    labels, meta = read_session_file(session.save(tmp_path / "ok.mrsession"))
    damage(meta)
    with zipfile.ZipFile(write_session_file(tmp_path / "bad.mrsession", labels, meta)) as zf:
        assert json.loads(zf.read("meta.json")) == meta
    with pytest.raises(SessionError, match=match):
        Session.load(tmp_path / "bad.mrsession", study=session.study)


def test_each_session_has_its_own_recovery_file_and_live_processes_keep_theirs(tmp_path, session):
    """Two MedRoute processes (or two studies in one) never share a recovery file; at start, only files whose
    process is gone are offered, newest first; a process still running keeps its file; a pid reused by a process
    started after the file was written does not hide it."""
    import os
    import subprocess
    import sys
    import time

    from viewer.editing import find_recoveries, recovery_path

    a, b = Autosaver(session, background=False), Autosaver(make_session(), background=False)
    assert a.path != b.path and a.path.parent == b.path.parent == tmp_path / "recovery"
    for sv in (a, b):
        stroke(sv.session.editor, 2, [(5, 5)])
        sv.save_now()
    assert {m["recovery_path"] for m in find_recoveries()} == {str(a.path), str(b.path)}  # this process's own

    def as_if_from(path, pid, saved, host=None):  # the file as another process would have left it
        from viewer.editing.session import read_session_file, write_session_file

        labels, meta = read_session_file(path)
        meta["recovery"]["pid"], meta["saved"] = pid, saved
        if host:
            meta["recovery"]["host"] = host
        new = path.with_name(f"autosave-{pid}-{path.name.rsplit('-', 1)[1]}")
        write_session_file(new, labels, meta)
        os.utime(new, (saved, saved))
        if new != path:
            path.unlink()
        return new

    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    try:
        time.sleep(0.2)
        now = time.time()
        pa = as_if_from(a.path, live.pid, now)  # another MedRoute still running: its work is live, not lost
        pb = as_if_from(b.path, dead.pid, now - 10)  # crashed 10 s ago
        assert [m["recovery_path"] for m in find_recoveries()] == [str(pb)]
        pa = as_if_from(pa, live.pid, now - 3600)  # the pid belongs to a process started after the file: reused
        assert [m["recovery_path"] for m in find_recoveries()] == [str(pb), str(pa)]  # newest first
        as_if_from(pa, dead.pid, now, host="another-computer")  # a shared home: cannot tell, left alone
        assert [m["recovery_path"] for m in find_recoveries()] == [str(pb)]
    finally:
        live.kill()
        live.wait()
    assert recovery_path() != recovery_path()


def test_autosaver_saves_only_changes_and_is_found_again(tmp_path, session):
    a = Autosaver(session, path=tmp_path / "rec.mrsession", interval_s=1.0, background=False)
    assert not a.tick(now=100.0) and not (tmp_path / "rec.mrsession").exists()
    stroke(session.editor, 2, [(5, 5)])
    assert a.tick(now=100.0)
    assert not a.tick(now=100.1)  # nothing new
    stroke(session.editor, 3, [(5, 5)])
    assert not a.tick(now=100.2)  # too soon after the last save
    assert a.tick(now=100.6)
    meta = find_recovery(tmp_path / "rec.mrsession")
    assert meta and meta["study"]["shape"] == [12, 50, 60]
    back = Session.load(tmp_path / "rec.mrsession", study=session.study)
    assert np.array_equal(back.labelmap.data, session.labelmap.data)
    a.discard()
    assert find_recovery(tmp_path / "rec.mrsession") is None
