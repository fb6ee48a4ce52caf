"""Adding a router class (viewer.training.router_add): relabelling keeps the split, the starting router answers as
before, and the task plugins are only fingerprinted, never written."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytestmark = pytest.mark.filterwarnings("ignore")


@pytest.fixture
def base_router(tmp_path):
    import torch

    from viewer.training.model import build_model
    from viewer.training.tasks import recipe

    rec = recipe("router")
    rng = np.random.default_rng(0)
    arrays = {}
    for p, n in (("train", 40), ("val", 20), ("test", 20)):
        y = np.tile(np.arange(4), n // 4)
        names = [f"{['brain_mri', 'nuclei', 'polyp', 'other'][c]}:img{i}" for i, c in enumerate(y)]
        names = [nm.replace("brain_mri:img", "brain_mri:hippocampus_00%d.nii.gz/" % (i % 3)) if i % 8 == 0 else nm
                 for i, nm in enumerate(names)]
        arrays.update({f"X_{p}": rng.random((n, 3, 64, 64), dtype=np.float32), f"y_{p}": y.astype(np.int64),
                       f"n_{p}": np.array(names)})
    d = tmp_path / "router"
    d.mkdir()
    np.savez(d / "router_data.npz", **arrays)
    (d / "config.json").write_text(json.dumps(rec))
    torch.manual_seed(0)
    torch.save({"model": build_model("router", 3, 4, rec["widths"]).eval().state_dict()}, d / "best.pt")
    return d


def test_relabel_moves_only_matching_samples(base_router, tmp_path):
    from viewer.training.router_add import relabel

    info = relabel(base_router, tmp_path / "out", "hippocampus", "hippocampus_")
    assert info["classes"] == ["brain_mri", "nuclei", "polyp", "other", "hippocampus"]
    z0 = np.load(base_router / "router_data.npz")
    z1 = np.load(tmp_path / "out" / "router_data.npz")
    for p in ("train", "val", "test"):
        moved = z1[f"y_{p}"] != z0[f"y_{p}"]
        assert (z1[f"y_{p}"][moved] == 4).all() and (z0[f"y_{p}"][moved] == 0).all()
        assert all("hippocampus_" in str(n) for n in z1[f"n_{p}"][moved]) and moved.any()
        assert np.array_equal(z1[f"X_{p}"], z0[f"X_{p}"])


def test_low_resolution_copies_stay_in_the_split_class(base_router, tmp_path):
    from viewer.training.router_add import relabel

    relabel(base_router, tmp_path / "out", "hippocampus", "hippocampus_", lowres=True)
    z0 = np.load(base_router / "router_data.npz")
    z1 = np.load(tmp_path / "out" / "router_data.npz")
    for p in ("train", "val"):
        n0 = len(z0[f"y_{p}"])
        extra = z1[f"y_{p}"][n0:]
        kept_brain = sum(1 for n, t in zip(z0[f"n_{p}"], z0[f"y_{p}"]) if t == 0 and "hippocampus_" not in str(n))
        assert len(extra) == kept_brain and (extra == 0).all()
        assert all(str(n).endswith("#lowres") for n in z1[f"n_{p}"][n0:])
        x = z1[f"X_{p}"][n0:]
        assert x.shape[1:] == (3, 64, 64) and x.min() >= 0 and x.max() <= 1
    assert np.array_equal(z1["X_test"], z0["X_test"])  # the test split is not touched


def test_added_class_starts_as_before_and_plugins_untouched(base_router, tmp_path):
    import torch

    from viewer.training.model import build_model
    from viewer.training.router_add import train

    plugins = tmp_path / "plugins" / "t"
    plugins.mkdir(parents=True)
    for f, b in (("model.bin", b"bin"), ("model.xml", b"xml"), ("plugin.toml", b"x"), ("metrics.json", b"{}")):
        (plugins / f).write_bytes(b)
    before = {f.name: f.read_bytes() for f in plugins.iterdir()}
    out = tmp_path / "router5"
    train(base_router, out, "hippocampus", "hippocampus_", plugins=plugins.parent, epochs=1, lr=0.0, max_steps=1,
          threads=1)
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["classes"][-1] == "hippocampus" and "t" in cfg["task_plugins_at_start"]
    assert {f.name: f.read_bytes() for f in plugins.iterdir()} == before
    # with lr 0 only BatchNorm statistics move: the new row is the brain_mri row 2 logits lower, so it never wins
    old = build_model("router", 3, 4, cfg["widths"]).eval()
    old.load_state_dict(torch.load(base_router / "best.pt")["model"])
    new = build_model("router", 3, 5, cfg["widths"]).eval()
    new.load_state_dict(torch.load(out / "best.pt")["model"])
    x = torch.from_numpy(np.load(base_router / "router_data.npz")["X_test"])
    with torch.no_grad():
        lo, ln = old(x), new(x)
    assert torch.equal(lo.argmax(1), ln.argmax(1))
    assert torch.allclose(ln[:, 4], ln[:, 0] - 2.0, atol=1e-4)
