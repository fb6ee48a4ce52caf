"""viewer.batch (see ../shared/DESIGN.md for what belongs here)."""
