"""oncoatlas: a research environment for cancer imaging.

Catalog, cohorts, federation, volumes, radiomics, explainable AI and screening analytics
on top of a federation of hospital imaging archives. Subpackages are imported on demand
(``import oncoatlas.catalog``), so that ``import oncoatlas`` and the command stay fast.
"""

from __future__ import annotations

import logging

from oncoatlas.errors import OncoatlasError, OncoatlasWarning

__all__ = ["OncoatlasError", "OncoatlasWarning", "__version__"]

__version__ = "0.1.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())
