"""MedRoute Viewer: open a study, segment it with a routed INT8 model, correct it, export it."""

__version__ = "0.1.0"
