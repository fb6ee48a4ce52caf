"""Engine, pipeline and router on fake plugins (real OpenVINO models with known behaviour)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.inference.fake_plugins import bright_truth, make_router_plugin
from viewer.errors import CancelledError, NoSuitableModelError
from viewer.inference.engine import Engine, resolve_device
from viewer.inference.pipeline import CancelToken, run, segment_slice, segment_study
from viewer.inference.preprocess import preprocess, restore_mask
from viewer.inference.registry import Registry
from viewer.inference.router import choose_task, representative_slices, route


def _image(h=100, w=140, seed=0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:h, :w]
    disc = ((yy - h / 2) ** 2 + (xx - w / 3) ** 2) < (min(h, w) / 4) ** 2
    return (rng.normal(200, 20, (h, w)) + 1500 * disc).astype(np.int16)


def test_missing_device_falls_back_to_cpu_with_a_message():
    dev, msg = resolve_device("GPU.7")
    assert dev == "CPU" and "not available" in msg and "using the CPU" in msg
    assert resolve_device("cpu") == ("CPU", "")
    e = Engine("NPU")
    assert e.device in ("CPU", "NPU")


def test_compiled_model_cache(registry, engine):
    p = registry.task("brain_mri")
    assert engine.compiled(p, "latency") is engine.compiled(p, "latency")
    assert engine.compiled(p, "throughput") is not engine.compiled(p, "latency")
    hint = engine.compiled(p, "throughput").get_property("PERFORMANCE_HINT")
    assert "THROUGHPUT" in str(hint)


def test_slice_matches_reference_restore(registry, engine):
    """The split postprocess/restore stages give exactly what preprocess.restore_mask gives."""
    p = registry.task("brain_mri")
    img = _image()
    t = {}
    mask = segment_slice(img, p, engine, t)
    x, info = preprocess(img, p.input)
    ref = restore_mask(np.array(engine.infer(p, x)), info, "sigmoid", 0.5)
    assert mask.shape == img.shape and mask.dtype == np.uint8
    assert np.array_equal(mask, ref)
    assert {"preprocess", "infer", "postprocess", "restore"} <= set(t)
    truth = bright_truth(img)
    dice = 2 * (mask & truth).sum() / (mask.sum() + truth.sum())
    assert dice > 0.95


def test_volume_first_slice_progress_and_timings(registry, engine):
    p = registry.task("brain_mri")
    vol = np.stack([_image(64, 64, seed=z) for z in range(12)])
    seen, prog = [], []
    labels, t, n = segment_study(vol, p, engine, first=7, on_slice=lambda z, m: seen.append((z, m.copy(), len(prog))),
                                 progress=lambda d, total: prog.append((d, total)))
    assert n == 12 and seen[0][0] == 7 and seen[0][2] == 0  # the visible slice came before any progress
    assert prog[-1] == (12, 12) and len(prog) == 12
    for z in range(12):
        assert np.array_equal(labels[z], segment_slice(vol[z], p, engine)), z
    assert set(t) >= {"preprocess", "infer", "postprocess", "total"}


def test_cancel_stops_volume(registry, engine):
    p = registry.task("brain_mri")
    vol = np.stack([_image(64, 64, seed=z) for z in range(200)])
    tok = CancelToken()

    def progress(d, total):
        if d >= 5:
            tok.cancel()

    labels, t, n = segment_study(vol, p, engine, first=0, progress=progress, cancel=tok)
    assert 5 <= n < 200
    with pytest.raises(CancelledError, match="cancelled"):
        run(vol, task="brain_mri", registry=Registry(plugins={"brain_mri": p}), engine=engine,
            progress=progress, cancel=tok)


def test_representative_slices_skip_empty_ends():
    vol = np.zeros((40, 32, 32), np.float32)
    vol[10:30] = np.random.default_rng(0).random((20, 32, 32))
    zs = representative_slices(vol, 5)
    assert len(zs) == 5 and all(10 <= z < 30 for z in zs)
    assert representative_slices(np.zeros((1, 8, 8)), 5) == [0]


def test_router_vote_and_override(registry, engine):
    vol = np.stack([_image(64, 64, seed=z) for z in range(9)])
    dec = route(vol, registry, engine)
    assert dec.task == "brain_mri" and dec.confidence > 0.9 and len(dec.votes) == 5
    plugin, dec = choose_task(vol, registry, engine, "nuclei")
    assert plugin.id == "nuclei" and dec.override and "chosen by the user" in dec.describe()


@pytest.mark.parametrize("logits, reason", [
    ((0.0, 0.0, 0.0, 5.0), "none of the installed tasks"),      # "other"
    ((1.0, 1.0, 1.0, 1.0), "not confident enough"),             # flat: below threshold
    ((0.0, 0.0, 5.0, 0.0), "'polyp' but that task model is not installed"),
])
def test_no_suitable_model(plugin_dir, engine, logits, reason):
    make_router_plugin(plugin_dir / "router", logits=logits, version="1.0.1")
    reg = Registry.scan(builtin=False, user_dirs=[plugin_dir], entry_points=False)
    with pytest.raises(NoSuitableModelError, match=reason) as ei:
        choose_task(_image()[None], reg, engine, "auto", name="case7.png")
    assert "case7.png" in str(ei.value) and ei.value.decision.task is None


def test_run_reports_provenance_and_stats(registry, engine):
    img = _image()[None]
    res = run(img, registry=registry, engine=engine)
    assert res.plugin.id == "brain_mri" and res.complete and res.routing.task == "brain_mri"
    assert res.provenance["plugin"] == "brain_mri" and res.provenance["version"] == "1.0.0"
    st = res.label_stats((0.5, 0.5, 2.0))
    assert st["bright"]["voxels"] == int(res.labels.sum())
    assert st["bright"]["ml"] == pytest.approx(res.labels.sum() * 0.5 / 1000, rel=1e-3)
    assert set(res.timings) >= {"route", "preprocess", "infer", "postprocess", "total"}


def test_study_input_gives_the_models_grey_colour_or_one_volume(tmp_path):
    """Colour stays colour; the volumes of a 4D image are not colours, even when there are 3 of them in uint8."""
    import nibabel as nib

    from viewer.inference.pipeline import study_input
    from viewer.io import open_study

    rng = np.random.default_rng(0)
    vols = rng.integers(0, 255, (8, 9, 5, 3), dtype=np.uint8)  # x, y, z, 3 time points
    nib.save(nib.Nifti1Image(vols, np.eye(4)), tmp_path / "three_volumes.nii.gz")
    study = open_study(tmp_path / "three_volumes.nii.gz")
    assert study.metadata["volumes_as_channels"] == 3 and not study.is_rgb
    v, notes = study_input(study)
    assert v.shape == study.shape and np.array_equal(v, study.voxels[..., 0])
    assert len(notes) == 1 and "4D image" in notes[0] and "first of its 3 volumes" in notes[0]
    one = open_study(tmp_path / "three_volumes.nii.gz", volume=2)
    assert "volumes_as_channels" not in one.metadata and study_input(one)[1] == []
    from PIL import Image

    Image.fromarray(rng.integers(0, 255, (20, 30, 3), dtype=np.uint8)).save(tmp_path / "colour.png")
    colour = open_study(tmp_path / "colour.png")
    v, notes = study_input(colour)
    assert colour.is_rgb and v.shape == (1, 20, 30, 3) and notes == []
    Image.fromarray(rng.integers(0, 255, (20, 30, 2), dtype=np.uint8), mode="LA").save(tmp_path / "grey_alpha.png")
    la = open_study(tmp_path / "grey_alpha.png")
    v, notes = study_input(la)  # grey + alpha: the reader drops the alpha; the image goes as it is, no note
    assert notes == [] and v is la.voxels and "transparency" in la.warnings[0]


def test_vector_pixels_of_nrrd_mha_are_channels_not_colours(tmp_path):
    """A 3-component float MHA (e.g. a displacement field) is not RGB; an 8-bit RGB MHA is."""
    import SimpleITK as sitk

    from viewer.inference.pipeline import study_input
    from viewer.io import open_study

    rng = np.random.default_rng(0)
    vec = sitk.GetImageFromArray(rng.random((4, 6, 7, 3)).astype(np.float32), isVector=True)
    sitk.WriteImage(vec, str(tmp_path / "field.mha"))
    st = open_study(tmp_path / "field.mha")
    assert st.voxels.shape == (4, 6, 7, 3) and st.metadata["components_as_channels"] == 3 and not st.is_rgb
    v, notes = study_input(st)
    assert np.array_equal(v, st.voxels[..., 0]) and "multi-channel image" in notes[0] and "first of its 3" in notes[0]
    rgb = sitk.GetImageFromArray(rng.integers(0, 255, (1, 6, 7, 3), dtype=np.uint8), isVector=True)
    sitk.WriteImage(rgb, str(tmp_path / "photo.mha"))
    st = open_study(tmp_path / "photo.mha")
    v, notes = study_input(st)
    assert st.is_rgb and "components_as_channels" not in st.metadata and notes == [] and v is st.voxels
