"""dicomscrub: batch de-identification of DICOM files by PS3.15 Annex E profiles."""

__version__ = "0.1.0"
