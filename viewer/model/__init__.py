"""The data that flows through everything: Study, Geometry, label maps.  No Qt."""

from .geometry import Geometry
from .study import SeriesInfo, Study

__all__ = ["Geometry", "SeriesInfo", "Study"]
