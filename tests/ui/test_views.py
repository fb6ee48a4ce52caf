"""Opening real studies in the main window: orientation, navigation, crosshair, layouts, window/level."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6 import QtCore
from tests.ui.ui_helpers import HIPPO_IMG, PGBM, SAG, click, drag, grab_view, wheel, widget_pos

from viewer.model.planes import PLANES


def _open(window, shared_data, parts, **kw):
    window.open_path(shared_data.joinpath(*parts), blocking=True, **kw)
    QtCore.QCoreApplication.processEvents()
    return window.study


def _not_blank(img: np.ndarray) -> bool:
    return img.std() > 10 and len(np.unique(img.reshape(-1, 3), axis=0)) > 50


def _world_dir(study, view, axis, cursor):
    """World vector from the first to the last voxel along a screen axis ('col' or 'row') through the cursor."""
    m = view.mapping
    r, c, s = m.to_screen(cursor)
    if axis == "col":
        a, b = m.from_screen(r, 0, s), m.from_screen(r, m.n_cols - 1, s)
    else:
        a, b = m.from_screen(0, c, s), m.from_screen(m.n_rows - 1, c, s)
    g = study.geometry
    return g.index_to_world(b[::-1]) - g.index_to_world(a[::-1])


@pytest.mark.parametrize("parts", [SAG, PGBM, HIPPO_IMG], ids=["sag192", "pgbm22", "hippo"])
def test_three_planes_radiological_orientation(window, shared_data, parts):
    study = _open(window, shared_data, parts)
    window.state.set_layout("2x2")
    expected = {  # (screen-right world axis, sign), (screen-down world axis, sign)  in LPS
        "axial": ((0, +1), (1, +1)), "coronal": ((0, +1), (2, -1)), "sagittal": ((1, +1), (2, -1)),
    }
    letters = {"axial": ("R", "L", "A", "P"), "coronal": ("R", "L", "S", "I"), "sagittal": ("A", "P", "S", "I")}
    for plane in PLANES:
        view = window.grid.views[plane]
        assert view.isVisible()
        for axis, (w, sign) in zip(("col", "row"), expected[plane]):
            d = _world_dir(study, view, axis, window.state.cursor)
            assert np.argmax(np.abs(d)) == w, (plane, axis, d)
            assert np.sign(d[w]) == sign, (plane, axis, d)
        assert view.mapping.letters == letters[plane]
        assert tuple(view.letters[e].text() for e in ("left", "right", "top", "bottom")) == letters[plane]
        assert _not_blank(grab_view(view)), plane


def test_physical_aspect_pgbm(window, shared_data):
    _open(window, shared_data, PGBM)  # 0.6875 mm pixels, 6.5 mm slices
    cor = window.grid.views["coronal"]
    br = cor.image_item.mapRectToView(cor.image_item.boundingRect())
    assert br.height() == pytest.approx(22 * 6.5, rel=0.01)
    assert br.width() == pytest.approx(280 * 0.6875, rel=0.01)  # x (columns) = 280


def test_scroll_keys_slider_and_crosshair_sync(window, shared_data, qtbot):
    study = _open(window, shared_data, SAG)
    st = window.state
    sag = window.grid.views["sagittal"]
    ax = window.grid.views["axial"]
    cor = window.grid.views["coronal"]
    start = sag.slice_index
    center = sag.graphics.viewport().rect().center()
    wheel(sag, center, 3)
    assert sag.slice_index == start + 3 and st.cursor[sag.mapping.normal_axis] == sag.slice_index
    wheel(sag, center, -1)
    assert sag.slice_index == start + 2
    sag.graphics.setFocus()
    qtbot.keyClick(sag.graphics, QtCore.Qt.Key.Key_Up)
    assert sag.slice_index == start + 3
    qtbot.keyClick(sag.graphics, QtCore.Qt.Key.Key_PageDown)
    assert sag.slice_index == start - 7
    sag.slider.setValue(10)
    assert sag.slice_index == 10 and st.cursor[sag.mapping.normal_axis] == 10

    # Click in the axial view: every view moves to the clicked voxel.
    r, c, _ = ax.mapping.to_screen((40, 60, 200))
    target = ax.mapping.from_screen(r, c, ax.slice_index)
    click(ax, widget_pos(ax, target))
    assert st.cursor == target
    assert cor.slice_index == cor.mapping.to_screen(target)[2]
    assert sag.slice_index == sag.mapping.to_screen(target)[2]
    r, c, _ = sag.mapping.to_screen(target)
    assert sag.vline.value() == pytest.approx((c + 0.5) * sag.mapping.col_spacing)
    assert sag.hline.value() == pytest.approx((r + 0.5) * sag.mapping.row_spacing)
    assert "voxel (i,j,k)" in window.readout.text()

    # Left drag in the coronal view moves the cursor continuously.
    p0 = widget_pos(cor, st.cursor)
    drag(cor, p0, p0 + QtCore.QPoint(40, 30))
    assert st.cursor != target
    assert ax.slice_index == ax.mapping.to_screen(st.cursor)[2]
    assert study is window.study


def test_ctrl_wheel_zoom_middle_pan_and_fit(window, shared_data):
    _open(window, shared_data, PGBM)
    ax = window.grid.views["axial"]
    s0 = ax.slice_index
    (x0, x1), _ = ax.vb.viewRange()
    wheel(ax, ax.graphics.viewport().rect().center(), 2, QtCore.Qt.KeyboardModifier.ControlModifier)
    (z0, z1), _ = ax.vb.viewRange()
    assert z1 - z0 < x1 - x0 and ax.slice_index == s0  # zoomed in, slice unchanged
    c = ax.graphics.viewport().rect().center()
    drag(ax, c, c + QtCore.QPoint(50, 0), QtCore.Qt.MouseButton.MiddleButton)
    (p0, p1), _ = ax.vb.viewRange()
    assert p0 < z0  # content moved right = view range moved left
    ax.fit()
    (f0, f1), _ = ax.vb.viewRange()
    assert f1 - f0 == pytest.approx(x1 - x0, rel=0.05)


def test_right_drag_window_level_changes_pixels(window, shared_data):
    _open(window, shared_data, SAG)
    ax = window.grid.views["axial"]
    before_levels = window.state.levels
    before = grab_view(ax)
    c = ax.graphics.viewport().rect().center()
    drag(ax, c, c + QtCore.QPoint(120, 80), QtCore.Qt.MouseButton.RightButton)
    w0, c0 = (before_levels[1] - before_levels[0]), sum(before_levels) / 2
    w1, c1 = window.state.window
    assert w1 > w0 and c1 > c0  # right = wider window, down = higher level
    assert window.wl_panel.width_box.value() == pytest.approx(w1, abs=0.1)
    lo, hi = window.wl_panel.histogram.item.getLevels()
    assert (lo, hi) == pytest.approx(window.state.levels, rel=1e-3)
    after = grab_view(ax)
    assert np.abs(after.astype(int) - before.astype(int)).mean() > 2


def test_layouts(window, shared_data):
    _open(window, shared_data, SAG)
    g = window.grid
    window.state.set_layout("1x1")
    shown = [p for p, v in g.views.items() if v.isVisible()]
    assert shown == [g.active_plane] == ["sagittal"]  # acquisition plane
    assert not g.info.isVisible()
    g.set_active("axial")
    assert [p for p, v in g.views.items() if v.isVisible()] == ["axial"]
    window.state.set_layout("1x3")
    assert all(v.isVisible() for v in g.views.values()) and not g.info.isVisible()
    window.actions_.layout_actions["2x2"].trigger()
    assert window.state.layout == "2x2"
    assert all(v.isVisible() for v in g.views.values()) and g.info.isVisible()
    assert window.settings.layout == "2x2"
    assert "Cursor" in g.info.toPlainText()


def test_rgb_png_shows_in_colour_as_one_slice(window, shared_data):
    png = shared_data / "brain_mri" / "images" / "TCGA_CS_5393_19990606_10.png"
    window.open_path(png, blocking=True)
    g = window.grid
    assert g.planes == ("axial",)
    assert [p for p, v in g.views.items() if v.isVisible()] == ["axial"]
    img = grab_view(g.views["axial"])
    assert _not_blank(img)
    diff = np.abs(img[..., 0].astype(int) - img[..., 1].astype(int))
    assert (diff > 30).mean() > 0.01  # real colour, not grey


def test_async_open_and_error_dialog(window, shared_data, qtbot, tmp_path):
    with qtbot.waitSignal(window.sigStudyLoaded, timeout=30000):
        window.open_path(shared_data.joinpath(*PGBM))
    assert window.study.shape == (22, 320, 280)
    assert str(shared_data.joinpath(*PGBM).resolve()) in window.settings.recent()
    bad = tmp_path / "broken.nii.gz"
    bad.write_bytes(b"\x1f\x8b not really gzip")
    with qtbot.waitSignal(window.sigLoadFailed, timeout=30000):
        window.open_path(bad)
    assert window.errors and "Traceback" not in window.errors[-1]
    assert window.study.shape == (22, 320, 280)  # the open study stays


def test_drop_opens_study(window, shared_data, qtbot):
    from PySide6 import QtGui

    mime = QtCore.QMimeData()
    mime.setUrls([QtCore.QUrl.fromLocalFile(str(shared_data.joinpath(*HIPPO_IMG)))])
    ev = QtGui.QDropEvent(QtCore.QPointF(10, 10), QtCore.Qt.DropAction.CopyAction, mime,
                          QtCore.Qt.MouseButton.NoButton, QtCore.Qt.KeyboardModifier.NoModifier)
    with qtbot.waitSignal(window.sigStudyLoaded, timeout=30000):
        window.dropEvent(ev)
    assert window.study.shape == (35, 51, 35)


@pytest.mark.parametrize("ext", [".zip", ".tar.gz"])
def test_series_picker_for_an_archive_with_two_series(shared_data, tmp_path, monkeypatch, ext):
    """A .zip or tar archive holding two series asks which one, as a folder does; the chosen one opens from the
    unpacked cache."""
    import tarfile
    import zipfile

    from viewer.ui import main_window as mw

    monkeypatch.setenv("MEDROUTE_ARCHIVE_DIR", str(tmp_path / "cache"))
    z = tmp_path / f"two series{ext}"
    files = [(f, f"export/{name}/{f.name}") for name in ("sag_anon_t1_mprage", "pgbm003_t1post")
             for f in sorted((shared_data / "dicom_series" / name).iterdir())]
    if ext == ".zip":
        with zipfile.ZipFile(z, "w", zipfile.ZIP_STORED) as zf:
            for f, arc in files:
                zf.write(f, arc)
    else:
        with tarfile.open(z, "w:gz", compresslevel=1) as tf:
            for f, arc in files:
                tf.add(f, arc)
    kind, found = mw.load_for_viewer(str(z), None)
    assert kind == "choose" and len(found) == 2
    small = min(found, key=lambda s: s["slices"])["uid"]
    study = mw.load_for_viewer(str(z), small)
    assert study.shape == (22, 320, 280) and study.name == "two series"


def test_series_picker_for_folder_with_two_series(window, shared_data, tmp_path, monkeypatch):
    from viewer.ui import main_window as mw
    from viewer.ui.series_dialog import SeriesDialog

    folder = tmp_path / "two_series"
    for name in ("sag_anon_t1_mprage", "pgbm003_t1post"):
        (folder / name).mkdir(parents=True)
        for f in (shared_data / "dicom_series" / name).iterdir():
            (folder / name / f.name).symlink_to(f)
    result = mw.load_for_viewer(str(folder), None)
    assert result[0] == "choose" and len(result[1]) == 2
    dlg = SeriesDialog(result[1])
    assert dlg.selected_uid() == max(result[1], key=lambda s: s["slices"])["uid"]
    small = min(result[1], key=lambda s: s["slices"])["uid"]
    monkeypatch.setattr(SeriesDialog, "exec", lambda self: 1)
    monkeypatch.setattr(SeriesDialog, "selected_uid", lambda self: small)
    window._on_loaded(str(folder), result)
    for _ in range(200):
        if window.study is not None:
            break
        QtCore.QThread.msleep(50)
        QtCore.QCoreApplication.processEvents()
    assert window.study is not None and window.study.shape == (22, 320, 280)
