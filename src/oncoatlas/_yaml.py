"""Reading the project's YAML files (specs, policies, federations) with one clear error."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

__all__ = ["read_yaml"]


def read_yaml(path: str | os.PathLike[str], error: type[Exception], label: str, hint: str = "") -> Any:
    """Parse the YAML file ``path``.

    Parameters
    ----------
    path : path
        The file.
    error : exception class
        Raised, with one line naming the file, when it is missing or not valid YAML.
    label : str
        What the file is, for the message (``"policy file"``, ``"cohort spec"``).
    hint : str
        Appended to the message of a missing file (how to make one).
    """
    path = Path(path)
    if not path.is_file():
        raise error(f"{label} {path} does not exist{hint}")
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise error(f"{label} {path} is not valid YAML: {exc}") from None
