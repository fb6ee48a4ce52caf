"""viewer.export (see ../shared/DESIGN.md for what belongs here)."""
