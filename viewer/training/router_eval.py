"""Router evaluation: threshold chosen on the validation split, accuracy/rejection on the test split."""

from __future__ import annotations

import numpy as np

from ..inference.preprocess import softmax
from .router_data import CLASSES

OTHER = CLASSES.index("other")


def probs(compiled, X: np.ndarray) -> np.ndarray:
    return np.concatenate([softmax(np.asarray(compiled({0: x[None]})[0]))[0][None] for x in X])


def decide(p: np.ndarray, threshold: float) -> np.ndarray:
    """Predicted class index, OTHER when the top task class is below ``threshold`` (no suitable model)."""
    top = p.argmax(1)
    return np.where((top != OTHER) & (p.max(1) < threshold), OTHER, top)


def choose_threshold(p_val: np.ndarray, y_val: np.ndarray) -> float:
    """The threshold in [0.5, 0.99] (steps of 0.01) maximising task accuracy + 2 x 'other' rejection on the
    validation split (rejecting 'other' weighs double); ties go to the smallest threshold."""
    best, best_t = -1.0, 0.5
    task = y_val != OTHER
    for t in np.round(np.arange(0.5, 0.995, 0.01), 2):
        d = decide(p_val, float(t))
        score = (d[task] == y_val[task]).mean() + 2 * (d[~task] == OTHER).mean()
        if score > best + 1e-9:
            best, best_t = score, float(t)
    return best_t


def report(p: np.ndarray, y: np.ndarray, names, threshold: float, classes=CLASSES) -> dict:
    d = decide(p, threshold)
    task = y != OTHER
    per_class = {c: round(float((d[y == i] == i).mean()), 4) for i, c in enumerate(classes) if (y == i).any()}
    wrong = np.flatnonzero(d != y)
    wrong = sorted(wrong, key=lambda i: (y[i] != OTHER, i))  # misrouted 'other' images first
    failures = [f"{names[i]} -> {classes[d[i]]} ({p[i].max():.2f})" for i in wrong][:60]
    return {
        "task_accuracy": round(float((d[task] == y[task]).mean()), 4),
        "other_rejected": round(float((d[~task] == OTHER).mean()), 4) if (~task).any() else None,
        "per_class_recall": per_class, "n_task": int(task.sum()), "n_other": int((~task).sum()),
        "failures": failures,
    }


def evaluate_router_plugin(c32, c8, z, rec: dict) -> dict:
    classes = rec.get("classes", CLASSES)  # a router with an added task class keeps "other" at index 3
    if classes[OTHER] != "other":
        raise ValueError(f"the reject class must stay at index {OTHER}: {classes}")
    p8_val = probs(c8, z["X_val"])
    threshold = choose_threshold(p8_val, z["y_val"])
    rec.setdefault("router", {})["threshold"] = threshold
    names = [str(n) for n in z["n_test"]]
    t32 = report(probs(c32, z["X_test"]), z["y_test"], names, threshold, classes)
    t8 = report(probs(c8, z["X_test"]), z["y_test"], names, threshold, classes)
    v8 = report(p8_val, z["y_val"], [str(n) for n in z["n_val"]], threshold, classes)
    return {
        "classes": classes, "threshold": threshold,
        "threshold_rule": "threshold in [0.5, 0.99] maximising validation task accuracy + 2 x 'other' rejection",
        "primary_metric": "task accuracy (right task and confidence >= threshold) and share of 'other' rejected",
        "target": {"task_accuracy": 0.99, "other_rejected": 1.0},
        "val_int8": v8, "test_fp32": t32, "test_int8": t8,
        "primary_fp32": t32["task_accuracy"], "primary_int8": t8["task_accuracy"],
        "meets_target": bool(t8["task_accuracy"] >= 0.99 and t8["other_rejected"] == 1.0
                             and t32["task_accuracy"] >= 0.99),
        "split_counts": rec.get("split_counts"),
    }
