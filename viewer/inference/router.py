"""Routing: which task model fits a study.  The router plugin looks at a few representative slices and votes.

* A 2-D image is one slice, one vote.  A volume gives up to ``n`` slices spread over the part of the stack that
  holds signal (empty end slices say nothing about the task).
* Each slice votes for its most probable class when that probability reaches the router's threshold; otherwise
  it abstains.  The decision is the class with most votes if it holds a majority of the slices; its confidence is
  the mean probability of that class over the slices.  The reject class ("other"), no majority, or a class with
  no installed task model all mean "no suitable model".
* The user can always override the decision (``task="brain_mri"``); the router is then not run.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from ..errors import NoSuitableModelError, PluginError
from .engine import Engine
from .manifest import Plugin
from .preprocess import preprocess, softmax
from .registry import Registry


@dataclass
class RoutingDecision:
    task: str | None  # the chosen task id, None when nothing fits
    confidence: float
    probabilities: dict[str, float] = field(default_factory=dict)  # mean over the slices looked at
    slices: list[int] = field(default_factory=list)
    votes: list[tuple[int, str, float]] = field(default_factory=list)  # (slice, class or "abstain", p)
    override: bool = False
    router: str = ""  # router plugin id@version
    reason: str = ""
    label: str = ""  # the router's winning class (even when that task is not installed); "" when no majority

    @property
    def accepted(self) -> bool:
        return self.task is not None

    def describe(self) -> str:
        if self.override:
            return f"task {self.task} (chosen by the user)"
        if self.task is None:
            return f"no suitable model ({self.reason})"
        return f"task {self.task} (router confidence {self.confidence:.2f}, {len(self.slices)} slice(s))"

    def to_dict(self) -> dict:
        return {"task": self.task, "confidence": round(float(self.confidence), 4), "override": self.override,
                "probabilities": {k: round(float(v), 4) for k, v in self.probabilities.items()},
                "slices": list(self.slices), "votes": [[z, c, round(float(p), 4)] for z, c, p in self.votes],
                "router": self.router, "reason": self.reason, "label": self.label}


def representative_slices(voxels: np.ndarray, n: int = 5) -> list[int]:
    """Up to ``n`` slice indices spread over the slices that hold signal (middle first for n=1)."""
    nz = int(voxels.shape[0])
    if nz <= 1:
        return [0]
    sub = np.asarray(voxels[:, ::8, ::8], dtype=np.float32)
    energy = sub.reshape(nz, -1).std(axis=1)
    busy = np.nonzero(energy >= 0.5 * float(energy.max()))[0] if energy.max() > 0 else np.arange(nz)
    lo, hi = int(busy.min()), int(busy.max())
    span = hi - lo
    lo, hi = lo + int(0.15 * span), hi - int(0.15 * span)  # the central part of the busy range
    k = min(n, hi - lo + 1)
    if k <= 1:
        return [(lo + hi) // 2]
    return sorted({int(round(v)) for v in np.linspace(lo, hi, k)})


def router_probabilities(router: Plugin, engine: Engine, image: np.ndarray) -> np.ndarray:
    x, _ = preprocess(image, router.input)
    return softmax(np.array(engine.infer(router, x), dtype=np.float32).reshape(1, -1), axis=1)[0]


def route(voxels: np.ndarray, registry: Registry, engine: Engine, n_slices: int = 5) -> RoutingDecision:
    """Run the router on representative slices of ``voxels`` (z, y, x[, c]) and vote."""
    router = registry.router
    if router is None:
        raise PluginError("No router plugin is installed, so the task cannot be chosen automatically; "
                          "choose the task yourself (--task) or install the router plugin.")
    classes = router.classes
    zs = representative_slices(voxels, n_slices)
    probs = np.stack([router_probabilities(router, engine, voxels[z]) for z in zs])
    if probs.shape[1] != len(classes):
        raise PluginError(f"The router {router.id} gives {probs.shape[1]} scores but lists {len(classes)} classes.")
    mean = probs.mean(axis=0)
    votes = []
    for z, p in zip(zs, probs):
        k = int(np.argmax(p))
        votes.append((z, classes[k] if p[k] >= router.router_threshold else "abstain", float(p[k])))
    count = Counter(c for _, c, _ in votes if c != "abstain")
    dec = RoutingDecision(None, 0.0, dict(zip(classes, mean.tolist())), zs, votes,
                          router=f"{router.id}@{router.version}")
    if not count:
        best = classes[int(np.argmax(mean))]
        dec.confidence = float(mean.max())
        dec.reason = (f"the router is not confident enough: best guess {best} at {dec.confidence:.2f}, "
                      f"below its threshold {router.router_threshold:.2f}")
        return dec
    winner, n = count.most_common(1)[0]
    dec.confidence = float(mean[classes.index(winner)])
    if n * 2 > len(zs):
        dec.label = winner
    if n * 2 <= len(zs):
        dec.reason = f"the slices disagree (only {n} of {len(zs)} vote {winner})"
    elif winner == router.reject_class:
        dec.reason = "the image looks like none of the installed tasks"
    elif winner not in registry.plugins or registry.plugins[winner].kind != "segmentation":
        dec.reason = f"it looks like '{winner}' but that task model is not installed"
    else:
        dec.task = winner
    return dec


def outside_field_of_view(plugin: Plugin, extent_mm) -> str:
    """Why a study of ``extent_mm`` (x, y, z millimetres; None when its pixel size is not known in mm) is larger
    than the studies ``plugin`` was trained on (its ``[input] max_field_of_view_mm``), or "" when it is not."""
    limit = plugin.input.max_field_of_view_mm
    if limit is None or extent_mm is None or max(extent_mm) <= float(limit):
        return ""
    size = " x ".join(f"{v:.0f}" for v in extent_mm)
    return (f"it looks like '{plugin.id}', but its field of view ({size} mm) is larger than the studies that model "
            f"was trained on ({plugin.task_modality or plugin.name}, at most {float(limit):g} mm across); crop the "
            "study to that region first")


def choose_task(voxels: np.ndarray, registry: Registry, engine: Engine, task: str | None = "auto",
                name: str = "this study", extent_mm=None) -> tuple[Plugin, RoutingDecision]:
    """The task plugin for a study: the user's choice, or the router's; raises NoSuitableModelError.
    ``extent_mm``: the study's size in mm (x, y, z), to check the chosen model's field of view (a user's choice is
    not second-guessed)."""
    if task and task != "auto":
        p = registry.task(task)
        return p, RoutingDecision(p.id, 1.0, override=True, reason="chosen by the user")
    dec = route(voxels, registry, engine)
    if dec.task is not None:
        why = outside_field_of_view(registry.task(dec.task), extent_mm)
        if why:
            dec.task, dec.reason = None, why
    if dec.task is None:
        err = NoSuitableModelError(
            f"No suitable model for {name}: {dec.reason}. Installed tasks: {', '.join(registry.task_ids()) or 'none'}; "
            "choose one yourself if you know it fits.")
        err.decision = dec
        raise err
    return registry.task(dec.task), dec
