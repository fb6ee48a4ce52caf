"""The Qt user interface (PySide6 + pyqtgraph).  The only package that imports Qt.

Import :mod:`viewer.ui.cli_view` freely (it is Qt-free until the ``view`` command runs); everything else here
imports Qt at module level.
"""
