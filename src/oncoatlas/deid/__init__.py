"""DICOM de-identification: the PS3.15 Annex E Basic Application Level Confidentiality Profile.

``deidentify_folder(src, dst, key)`` de-identifies a folder (parallel, atomic, restartable,
with a report); ``Deidentifier(key, options)`` de-identifies one data set or file;
``load_key(path)`` reads the secret key; ``ProfileOptions`` chooses the PS3.15 E.3 options;
``load_table()`` is PS3.15 Table E.1-1 as data. The command is ``oncoatlas deid``.

References
----------
.. [1] DICOM PS3.15, Annex E "Attribute Confidentiality Profiles".
"""

from __future__ import annotations

import logging

from oncoatlas.deid.engine import Deidentifier, FileResult, Status
from oncoatlas.deid.keys import DeidKeyError, load_key
from oncoatlas.deid.profile import Action, Conformance, Longitudinal, ProfileOptions, load_table
from oncoatlas.deid.run import FileRecord, RunReport, deidentify_folder

__all__ = [
    "Action",
    "Conformance",
    "DeidKeyError",
    "Deidentifier",
    "FileRecord",
    "FileResult",
    "Longitudinal",
    "ProfileOptions",
    "RunReport",
    "Status",
    "deidentify_folder",
    "load_key",
    "load_table",
]

logging.getLogger(__name__).addHandler(logging.NullHandler())
