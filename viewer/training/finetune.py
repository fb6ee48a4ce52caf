"""Fine-tuning support: where ``--init ID|DIR`` finds FP32 weights, version bumps, and comparing a new model with
the installed version on the same validation cases.

``--init`` accepts, in this order:

1. a training folder (``best.pt``) or a checkpoint file (``.pt``);
2. a plugin folder, or a plugin id known to the registry: the plugin's ``init_weights.npz`` (the FP32 state dict,
   stored as float16, that ``medroute quantize`` writes next to the INT8 IR; plain numpy, no pickle);
3. for a plugin id whose plugin has no ``init_weights.npz`` (built before it was added): the training folder it was
   built from, ``runs/<id>/best.pt`` in the repository.

INT8 IR weights are never used to initialise training: they are quantised and NNCF folds them, so the FP32 weights
are shipped beside them (as float16: about 1-4 MB for a task U-Net).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from .data import TrainingDataError

INIT_WEIGHTS = "init_weights.npz"
REPO_RUNS = Path(__file__).resolve().parents[2] / "runs"


def _torch_load(path: Path) -> dict:
    import torch

    ck = torch.load(path, map_location="cpu", weights_only=True)
    return ck["model"] if isinstance(ck, dict) and "model" in ck else ck


def _npz_load(path: Path) -> dict:
    import torch

    with np.load(path, allow_pickle=False) as z:
        return {k: torch.from_numpy(np.array(z[k])) for k in z.files}


def save_init_weights(model, out_dir: Path) -> Path:
    """The state dict as ``init_weights.npz`` (what ``--init <plugin>`` loads), floating tensors stored as float16
    to halve the size in the repository: a fine-tuning start point does not need more (loading casts back)."""
    sd = {k: v.detach().cpu().half().numpy() if v.is_floating_point() else v.detach().cpu().numpy()
          for k, v in model.state_dict().items()}
    path = Path(out_dir) / INIT_WEIGHTS
    tmp = path.with_name(".init_weights.tmp.npz")
    np.savez(tmp, **sd)
    tmp.replace(path)
    return path


def resolve_init(init, task: str) -> tuple[dict, dict]:
    """(state dict, description) for ``--init`` (see the module docstring)."""
    p = Path(str(init)).expanduser()
    if p.is_dir() and (p / "best.pt").is_file():
        return _torch_load(p / "best.pt"), {"kind": "train_dir", "path": str(p)}
    if p.is_file() and p.suffix == ".pt":
        return _torch_load(p), {"kind": "checkpoint", "path": str(p)}
    if p.is_file() and p.suffix == ".npz":
        return _npz_load(p), {"kind": "weights", "path": str(p)}
    plugin = None
    if p.is_dir() and (p / "plugin.toml").is_file():
        from ..inference.manifest import load_manifest

        plugin = load_manifest(p, source="user", verify=False)
    else:
        from ..errors import PluginError
        from ..inference.registry import default_registry

        try:
            plugin = default_registry(refresh=True).get(str(init))
        except PluginError:
            plugin = None
    if plugin is not None:
        info = {"kind": "plugin", "id": plugin.id, "version": plugin.version, "sha256": plugin.sha256,
                "folder": str(plugin.folder)}
        if plugin.id != task:
            raise TrainingDataError(f"--init {init}: plugin {plugin.id} is not a {task} model.", plugin.folder)
        w = plugin.folder / INIT_WEIGHTS
        if w.is_file():
            return _npz_load(w), {**info, "path": str(w)}
        run = REPO_RUNS / plugin.id / "best.pt"
        if run.is_file():
            return _torch_load(run), {**info, "path": str(run)}
        raise TrainingDataError(
            f"Plugin {plugin.id} {plugin.version} ships no FP32 weights ({INIT_WEIGHTS}) and its training folder "
            f"{run.parent} is not here; pass --init TRAIN_DIR, or re-package it with `medroute quantize`.", plugin.folder)
    raise TrainingDataError(f"--init {init}: not a training folder, checkpoint, plugin folder or installed plugin id.", p)


def next_version(version: str | None, new_design: bool = False) -> str:
    """1.0.0 -> 1.0.1 (the last numeric part + 1); None -> 1.0.0.  ``new_design`` (another architecture or input
    size than the version it replaces): 1.0.2 -> 1.1.0."""
    if not version:
        return "1.0.0"
    parts = str(version).split(".")
    if new_design and len(parts) >= 2 and parts[1].isdigit():
        return ".".join([parts[0], str(int(parts[1]) + 1)] + ["0"] * (len(parts) - 2))
    for i in range(len(parts) - 1, -1, -1):
        if parts[i].isdigit():
            parts[i] = str(int(parts[i]) + 1)
            return ".".join(parts)
    return f"{version}.1"


def eval_set_sha256(samples) -> str:
    """Identity of a validation set: sha256 over the sorted (key, image sha256, mask sha256) of its samples."""
    h = hashlib.sha256()
    for s in sorted(samples, key=lambda s: s.key):
        h.update(s.key.encode())
        for f in (s.image, *s.extra_channels, s.mask):
            if f is not None:
                h.update(hashlib.sha256(Path(f).read_bytes()).digest())
    return h.hexdigest()


def baseline_plugin(rec: dict, out_dir: Path):
    """The version a new model is compared with: the one the registry uses now, else the one it was fine-tuned from."""
    from ..inference.manifest import load_manifest
    from ..inference.registry import default_registry

    current = default_registry(refresh=True).plugins.get(rec["task"])
    if current is not None and Path(current.folder).resolve() != Path(out_dir).resolve():
        return current
    init = rec.get("init") or {}
    if init.get("kind") == "plugin" and Path(init["folder"], "plugin.toml").is_file():
        return load_manifest(Path(init["folder"]), source="user", verify=False)
    return current
