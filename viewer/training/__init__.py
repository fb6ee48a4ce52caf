"""viewer.training (see ../shared/DESIGN.md for what belongs here)."""
