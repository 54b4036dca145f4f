"""dicomscrub: batch de-identification of DICOM files by PS3.15 Annex E profiles."""

from dicomscrub._startup import defer_unused_pydicom_modules

__version__ = "0.1.0"

defer_unused_pydicom_modules()
