"""viewer.export: corrected labels -> nnU-Net v2 / MSD datasets, DICOM SEG, de-identification, provenance,
and installing retrained plugin versions with rollback (see docs/export.md).  No Qt."""

from .cases import ExportCase, case_from_files, case_from_session, case_from_session_file, pair_files
from .dataset import ExportReport, export_cases
from .deid import DeidentificationError, ExportError, Pseudonymizer
from .validate import check_deidentified, validate_dataset

__all__ = [
    "DeidentificationError", "ExportCase", "ExportError", "ExportReport", "Pseudonymizer", "case_from_files",
    "case_from_session", "case_from_session_file", "check_deidentified", "export_cases", "pair_files",
    "validate_dataset",
]
