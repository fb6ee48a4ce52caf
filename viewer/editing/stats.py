"""Per-label statistics: voxel count and volume in millilitres.  No Qt."""

from __future__ import annotations

import numpy as np


def label_statistics(labelmap, spacing_known: bool = True) -> list[dict]:
    """One row per label in the table (and any value present but missing from it): value, name, voxels, mL.
    ``spacing_known=False`` (a PNG/TIFF without a pixel size in mm): ``ml`` is None rather than a made-up volume."""
    data = labelmap.data
    counts = np.bincount(data.ravel(), minlength=256)
    sx, sy, sz = labelmap.geometry.spacing
    ml_per_voxel = sx * sy * sz / 1000.0
    values = sorted(set(labelmap.table.values) | {int(v) for v in np.nonzero(counts)[0] if v})
    return [{"value": v, "name": labelmap.table.name_of(v), "voxels": int(counts[v]),
             "ml": float(counts[v] * ml_per_voxel) if spacing_known else None} for v in values]
