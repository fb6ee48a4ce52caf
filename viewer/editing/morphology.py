"""Islands (remove small components, keep the largest) and smoothing (opening, closing) of one label.  No Qt.

Each operation works inside the label's bounding box (plus a margin), builds the new values there and hands them
to the paint funnel as one undoable step.  SimpleITK does the connected components and the morphology.
"""

from __future__ import annotations

import numpy as np

from ..errors import EditError
from .funnel import box_slices, tight_box


def _label_box(data: np.ndarray, value: int, margin: int = 0):
    m = data == int(value)
    box = tight_box(m)
    if box is None:
        return None, None
    if margin:
        box = tuple(max(0, box[i] - margin) if i % 2 == 0 else min(data.shape[i // 2], box[i] + margin)
                    for i in range(6))
    return box, m[box_slices(box)]


def _components(mask: np.ndarray, slice_axis: int | None):
    """Connected-component labels (face-connected) of a bool box, in 3D or per slice of ``slice_axis``."""
    import SimpleITK as sitk

    if slice_axis is None:
        img = sitk.GetImageFromArray(mask.astype(np.uint8))
        return sitk.GetArrayFromImage(sitk.ConnectedComponent(img, False)), None
    out = np.zeros(mask.shape, np.int32)
    offset = 0
    for i in range(mask.shape[slice_axis]):
        sl = np.take(mask, i, axis=slice_axis)
        if not sl.any():
            continue
        cc = sitk.GetArrayFromImage(sitk.ConnectedComponent(sitk.GetImageFromArray(sl.astype(np.uint8)), False))
        cc = np.where(cc > 0, cc + offset, 0)
        offset = int(cc.max()) if cc.max() > 0 else offset
        idx = [slice(None)] * 3
        idx[slice_axis] = i
        out[tuple(idx)] = cc
    return out, None


def remove_small_islands(editor, value: int, min_voxels: int, slice_axis: int | None = None):
    """Erase the components of ``value`` with fewer than ``min_voxels`` voxels (per slice when ``slice_axis``)."""
    box, m = _label_box(editor.data, value)
    if box is None:
        return None
    cc, _ = _components(m, slice_axis)
    sizes = np.bincount(cc.ravel())
    small = sizes < int(min_voxels)
    small[0] = False
    remove = small[cc]
    return editor.paint(box, remove, 0, respect_options=False,
                        name=f"Remove islands < {int(min_voxels)} voxels, label {value}")


def keep_largest(editor, value: int, slice_axis: int | None = None):
    """Keep only the largest connected component of ``value`` (in 3D, or per slice of ``slice_axis``)."""
    box, m = _label_box(editor.data, value)
    if box is None:
        return None
    cc, _ = _components(m, slice_axis)
    if slice_axis is None:
        sizes = np.bincount(cc.ravel())
        sizes[0] = 0
        remove = m & (cc != int(np.argmax(sizes)))
    else:
        remove = np.zeros_like(m)
        for i in range(m.shape[slice_axis]):
            c = np.take(cc, i, axis=slice_axis)
            if not c.any():
                continue
            sizes = np.bincount(c.ravel())
            sizes[0] = 0
            idx = [slice(None)] * 3
            idx[slice_axis] = i
            remove[tuple(idx)] = (c > 0) & (c != int(np.argmax(sizes)))
    return editor.paint(box, remove, 0, respect_options=False, name=f"Keep largest island, label {value}")


def smooth(editor, value: int, operation: str = "closing", radius_mm: float = 2.0, slice_axis: int | None = None):
    """Morphological ``"opening"`` (removes spurs and specks) or ``"closing"`` (fills gaps and notches).

    The kernel radius is in millimetres: per axis, the voxel centres within ``radius_mm`` (as the brush), so a
    thick-slice axis (6.5 mm) gets no reach at all from a 4 mm radius instead of a whole slice each side; with
    ``slice_axis``, or along an axis one voxel deep (a 2-D study), the kernel is flat.  Added voxels respect
    "preserve other labels".
    """
    import SimpleITK as sitk

    if operation not in ("opening", "closing"):
        raise EditError(f"Smoothing is 'opening' or 'closing', not {operation!r}.")
    sp = editor.spacing_zyx
    rad = [max(0, int(np.floor(radius_mm / s + 1e-6))) for s in sp]  # z, y, x
    for a, n in enumerate(editor.data.shape):
        if n == 1 or a == slice_axis:
            rad[a] = 0
    if max(rad) == 0:
        raise EditError(f"A {radius_mm:g} mm smoothing radius is smaller than one voxel; choose a larger radius.")
    box, m = _label_box(editor.data, value, margin=max(rad) + 1)
    if box is None:
        return None
    img = sitk.GetImageFromArray(m.astype(np.uint8))
    kr = (rad[2], rad[1], rad[0])
    f = (sitk.BinaryMorphologicalOpeningImageFilter if operation == "opening"
         else sitk.BinaryMorphologicalClosingImageFilter)()
    f.SetKernelRadius(kr)
    f.SetKernelType(sitk.sitkBall)
    f.SetForegroundValue(1)
    out = sitk.GetArrayFromImage(f.Execute(img)).astype(bool)
    region = editor.data[box_slices(box)]
    added, removed = out & ~m, m & ~out
    new = region.copy()
    new[removed] = 0
    new[added] = int(value)
    if editor.options.preserve_others:
        keep = added & (region != 0)
        new[keep] = region[keep]
    return editor.paint(box, added | removed, new, respect_options=False,
                        name=f"Smooth ({operation}, {radius_mm:g} mm), label {value}")
