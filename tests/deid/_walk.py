"""Helpers for tests: walk data sets by tag path, and an independent action oracle."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pydicom.datadict import keyword_for_tag
from pydicom.dataset import Dataset

from oncoatlas.deid.profile import Action, ProfileOptions, compile_profile, generic_date_action

Path_ = tuple[Any, ...]

CLASS_SUFFIXES = ("ClassUID", "SyntaxUID", "ClassUIDInFile")


def iter_elements(ds: Dataset, prefix: Path_ = ()) -> Iterator[tuple[Path_, Any]]:
    """Every element of ``ds`` with its path ``(tag, item, tag, item, ..., tag)``."""
    for elem in ds:
        path = (*prefix, int(elem.tag))
        yield path, elem
        if elem.VR == "SQ":
            for i, item in enumerate(elem.value or ()):
                yield from iter_elements(item, (*path, i))


def expected_action(elem: Any, options: ProfileOptions) -> Action | None:
    """What PS3.15 (table + general rules) says for ``elem``; ``None``: not addressed."""
    tag = int(elem.tag)
    group = tag >> 16
    if tag in (0x00100010, 0x00100020):
        return Action.ZERO  # replaced by the pseudonym
    if group & 1:
        return Action.REMOVE
    action = compile_profile(options).lookup(tag)
    if action is not None:
        return action
    if 0x5000 <= group <= 0x50FF or 0x6000 <= group <= 0x60FF:
        return Action.REMOVE
    if elem.VR == "UI":
        try:
            kw = keyword_for_tag(tag)
        except KeyError:
            kw = ""
        if kw.endswith(CLASS_SUFFIXES) or kw in ("CodingSchemeUID", "ContextUID"):
            return None
        return Action.UID
    if elem.VR == "PN":
        return Action.REMOVE
    if elem.VR in ("DA", "DT", "TM"):
        return generic_date_action(options)
    return None


def is_empty(value: Any) -> bool:
    return (
        value is None
        or value == ""
        or value == b""
        or (hasattr(value, "__len__") and not isinstance(value, (str, bytes)) and len(value) == 0)
    )
