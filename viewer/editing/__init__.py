"""viewer.editing (see ../shared/DESIGN.md for what belongs here)."""
