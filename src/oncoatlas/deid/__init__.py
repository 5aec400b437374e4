"""DICOM de-identification: the PS3.15 Annex E Basic Application Level Confidentiality Profile.

``deidentify_folder(src, dst, key)`` de-identifies a folder (parallel, atomic, restartable,
with a report); ``Deidentifier(key, options)`` de-identifies one data set or file;
``load_key(path)`` reads the secret key; ``ProfileOptions`` chooses the PS3.15 E.3 options;
``load_table()`` is PS3.15 Table E.1-1 as data; ``audit_folder(dst)`` checks, without the
originals, that files have the structure a Basic Profile output must have. The command is
``oncoatlas deid``.

Examples
--------
>>> from oncoatlas.deid import ProfileOptions, deidentify_folder, load_key
>>> report = deidentify_folder(  # doctest: +SKIP
...     "archive/", "deid/", load_key("deid.key"),
...     ProfileOptions(retain_longitudinal="modified-dates", clean_descriptors=True),
...     workers=2,
... )
>>> report.counts()  # doctest: +SKIP
{'deidentified': 939, 'quarantined': 0, 'failed': 1, 'reused': 0}

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
from oncoatlas.deid.verify import audit_dataset, audit_folder

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
    "audit_dataset",
    "audit_folder",
    "deidentify_folder",
    "load_key",
    "load_table",
]

logging.getLogger(__name__).addHandler(logging.NullHandler())
