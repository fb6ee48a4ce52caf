"""The project's error types.

Every failure the user can cause (a bad file, a missing decoder, a study too big for memory) raises a subclass of
:class:`MedRouteError` whose message is one sentence a radiologist understands: which file, what is wrong, and what to
do.  The CLI prints it as ``error: <message>`` and exits 2; the GUI shows it in a dialog.  Nothing else escapes.
"""

from __future__ import annotations

from pathlib import Path


class MedRouteError(Exception):
    """Base class of every error MedRoute shows to a user."""

    def __init__(self, message: str, path: str | Path | None = None):
        self.path = None if path is None else str(path)
        super().__init__(message)

    @property
    def message(self) -> str:
        return str(self)


class StudyLoadError(MedRouteError):
    """A study could not be opened."""


class NotFoundError(StudyLoadError):
    """The path does not exist."""


class PermissionDeniedError(StudyLoadError):
    """The file or folder cannot be read with the current user's permissions."""


class EmptyInputError(StudyLoadError):
    """A zero-byte file, or a folder with no images in it."""


class UnsupportedFormatError(StudyLoadError):
    """The file is not an image format MedRoute reads."""


class CorruptFileError(StudyLoadError):
    """The file claims to be a supported format but cannot be decoded (truncated or damaged)."""


class MissingDecoderError(StudyLoadError):
    """The pixel data is compressed with a scheme no installed decoder handles."""


class TooLargeError(StudyLoadError):
    """The header announces more voxels than the configured memory limit allows."""


class InconsistentSeriesError(StudyLoadError):
    """Images in one series or folder cannot be stacked (different sizes, orientations, or kinds)."""


class GeometryMismatchError(MedRouteError):
    """A label map does not share its study's grid."""


class SaveError(MedRouteError):
    """A file could not be written."""


class PluginError(MedRouteError):
    """A task plugin is missing, damaged (bad manifest, wrong checksum) or cannot run."""


class UnknownTaskError(PluginError):
    """The user asked for a task that no installed plugin provides."""


class NoSuitableModelError(MedRouteError):
    """The router found no installed task model that fits this study."""


class InferenceError(MedRouteError):
    """The inference engine failed while segmenting a study."""


class CancelledError(MedRouteError):
    """The user cancelled a long-running operation."""


class EditError(MedRouteError):
    """An editing operation cannot be done as asked (no label on the slice, nothing to interpolate...)."""


class EditConflictError(EditError):
    """A model result would overwrite manual edits and the user has not chosen replace / fill empty / cancel."""


class SessionError(MedRouteError):
    """A session or recovery file cannot be read or does not belong to the study."""
