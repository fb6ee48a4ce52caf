"""Helpers shared by the editing tests."""

from __future__ import annotations

import numpy as np

from viewer.model.geometry import Geometry
from viewer.model.study import Study


def make_session(shape=(12, 50, 60), spacing=(1.0, 1.0, 1.0), image=None):
    from viewer.editing import Session

    vox = image if image is not None else np.zeros(shape, np.int16)
    return Session(Study(vox, Geometry(spacing=spacing), source=["synthetic"]))
