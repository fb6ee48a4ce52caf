"""viewer.inference (see ../shared/DESIGN.md for what belongs here)."""
