"""The fourth pane of the 2x2 layout: what the study is (rich text, set once) and what is under the cursor
(a plain label, cheap to update on every slice change)."""

from __future__ import annotations

import html

from PySide6 import QtWidgets


class InfoPane(QtWidgets.QFrame):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("infoPane")
        self.text = QtWidgets.QTextBrowser()
        self.text.setOpenLinks(False)
        self.text.setFrameShape(QtWidgets.QFrame.Shape.NoFrame)
        self.cursor_label = QtWidgets.QLabel("")
        self.cursor_label.setSizePolicy(QtWidgets.QSizePolicy.Policy.Ignored, QtWidgets.QSizePolicy.Policy.Fixed)
        self.cursor_label.setStyleSheet("font-family: monospace; padding: 4px;")
        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        lay.addWidget(self.text, 1)
        lay.addWidget(self.cursor_label)
        self.text.setHtml("<p>No study open. Use <b>File &gt; Open</b> or drop a file or folder here.</p>")

    def set_study(self, study, labels=None) -> None:
        if study is None:
            self.text.setHtml("<p>No study open.</p>")
            return
        s = study.summary()
        rows = [
            ("Name", study.name),
            ("Description", s.get("description") or "-"),
            ("Format", s.get("format") or "-"),
            ("Modality", s.get("modality") or "-"),
            ("Size (z, y, x)", " x ".join(str(v) for v in study.voxels.shape)),
            ("Type", s.get("dtype")),
            ("Spacing (mm)", " x ".join(f"{v:.3g}" for v in study.geometry.spacing)),
            ("Orientation", s.get("orientation")),
            ("Intensity", " .. ".join(f"{v:g}" for v in s.get("intensity_range", []))),
        ]
        if labels is not None:
            rows.append(("Labels", ", ".join(f"{lab.value}: {lab.name}" for lab in labels.table) or "none"))
        body = "".join(f"<tr><td style='color:#9aa0aa;padding-right:8px'>{html.escape(k)}</td>"
                       f"<td>{html.escape(str(v))}</td></tr>" for k, v in rows)
        warn = "".join(f"<p style='color:#e0a050'>{html.escape(w)}</p>" for w in s.get("warnings", []))
        self.text.setHtml(f"<table>{body}</table>{warn}")

    def set_cursor_text(self, text: str) -> None:
        self.cursor_label.setText(text)

    def toPlainText(self) -> str:
        return self.text.toPlainText() + "\n" + self.cursor_label.text()
