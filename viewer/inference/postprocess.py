"""Optional clean-up of a restored 2-D mask, declared by the plugin manifest's ``[postprocess]`` table (no Qt).

``largest_component = true``: keep, for each label, only its largest connected component (8-connected) in each
2-D image or slice.  For tasks whose images show one object (a colonoscopy frame centred on one polyp) this
removes scattered false-positive specks.  The training evaluation (``viewer.training.quantize``) applies the same
function, so the metrics in ``metrics.json`` are those of what the viewer shows.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

KNOWN = {"largest_component": bool}


def validate(table: Any) -> dict:
    """The ``[postprocess]`` table as a dict; ValueError with the reason when it is not understood."""
    if table is None:
        return {}
    if not isinstance(table, Mapping):
        raise ValueError("[postprocess] must be a table")
    out = {}
    for k, v in table.items():
        if k not in KNOWN:
            raise ValueError(f"unknown [postprocess] option {k!r} (known: {', '.join(KNOWN)})")
        if not isinstance(v, KNOWN[k]):
            raise ValueError(f"[postprocess] {k} must be {KNOWN[k].__name__}")
        out[k] = v
    return out


def keep_largest_component(mask: np.ndarray) -> np.ndarray:
    """Per non-zero label of a 2-D uint8 mask: only its largest 8-connected component stays."""
    if mask.ndim != 2 or not mask.any():
        return mask
    import SimpleITK as sitk

    out = np.zeros_like(mask)
    for v in np.unique(mask[mask > 0]):
        m = (mask == v).view(np.uint8)  # a bool array viewed as 0/1 bytes, whatever the mask's dtype
        cc = sitk.GetArrayFromImage(sitk.ConnectedComponent(sitk.GetImageFromArray(m), True))
        sizes = np.bincount(cc.ravel())
        sizes[0] = 0
        out[cc == sizes.argmax()] = v
    return out


def apply(mask: np.ndarray, options: Mapping[str, Any] | None) -> np.ndarray:
    """``mask`` (H, W) after the manifest's postprocessing options."""
    if options and options.get("largest_component"):
        mask = keep_largest_component(mask)
    return mask
