"""Save and load models from local paths only (nothing is downloaded).

- TorchScript files (``.ts``/``.pt`` made by ``torch.jit``), written with MONAI's
  ``save_net_with_metadata`` so that the model card travels inside the file.
- MONAI bundle folders (https://docs.monai.io/en/stable/mb_specification.html):
  ``configs/metadata.json`` plus ``models/model.ts`` (TorchScript) or ``models/model.pt``
  (a state dict, instantiated from ``configs/inference.json``'s ``network_def`` with
  ``monai.bundle.ConfigParser``).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from oncoatlas._atomic import atomic_dir, atomic_path
from oncoatlas.errors import OncoatlasError

__all__ = ["ModelLoadError", "load_bundle", "load_model", "load_torchscript", "save_bundle", "save_torchscript"]

logger = logging.getLogger(__name__)


class ModelLoadError(OncoatlasError, ValueError):
    """A model file or bundle folder is missing, malformed or not loadable."""


def save_torchscript(
    model: nn.Module, path: str | os.PathLike[str], example: torch.Tensor, meta: dict[str, Any] | None = None
) -> Path:
    """Trace ``model`` on ``example`` and write it as TorchScript with ``meta`` embedded.

    Returns
    -------
    pathlib.Path
        The written file (replaced atomically).
    """
    from monai.data import save_net_with_metadata

    model.eval()
    with torch.no_grad():
        traced = torch.jit.trace(model, example)
    path = Path(path)
    with atomic_path(path, suffix=".ts") as tmp:
        save_net_with_metadata(traced, str(tmp), include_config_vals=False, append_timestamp=False,
                               meta_values=meta or {})
        produced = tmp if tmp.exists() and tmp.stat().st_size > 0 else Path(str(tmp) + ".ts")
        if produced != tmp:
            os.replace(produced, tmp)
    return path


def load_torchscript(path: str | os.PathLike[str]) -> tuple[nn.Module, dict[str, Any]]:
    """Load a TorchScript file and the metadata embedded by :func:`save_torchscript`.

    Raises
    ------
    ModelLoadError
        The file does not exist or is not TorchScript.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelLoadError(f"model file {path} does not exist; pass a TorchScript file or a MONAI bundle folder")
    from monai.data import load_net_with_metadata

    try:
        net, meta, _ = load_net_with_metadata(str(path), map_location=torch.device("cpu"))
    except Exception as exc:
        raise ModelLoadError(f"{path} is not a TorchScript model ({exc}); save it with torch.jit.save") from exc
    net.eval()
    return net, dict(meta)


def save_bundle(
    model: nn.Module, folder: str | os.PathLike[str], example: torch.Tensor, metadata: dict[str, Any]
) -> Path:
    """Write a minimal MONAI bundle: ``configs/metadata.json`` and ``models/model.ts``."""
    folder = Path(folder)
    with atomic_dir(folder) as tmp:
        (tmp / "configs").mkdir()
        (tmp / "models").mkdir()
        meta = {"version": "0.1.0", "monai_version": _monai_version(), "pytorch_version": torch.__version__,
                **metadata}
        (tmp / "configs" / "metadata.json").write_text(json.dumps(meta, indent=2, default=str), encoding="utf-8")
        model.eval()
        with torch.no_grad():
            torch.jit.save(torch.jit.trace(model, example), str(tmp / "models" / "model.ts"))
    return folder


def _monai_version() -> str:
    import monai

    return str(monai.__version__)


def load_bundle(folder: str | os.PathLike[str], prefer_eager: bool = True) -> tuple[nn.Module, dict[str, Any]]:
    """Load a local MONAI bundle folder.

    ``models/model.pt`` is a state dict for the network that ``configs/inference.json`` (or
    ``.yaml``) defines as ``network_def``, built with ``monai.bundle.ConfigParser``: an eager
    module, which Grad-CAM can hook, preferred when ``prefer_eager``; ``models/model.ts``
    is loaded with ``torch.jit.load`` otherwise.

    Raises
    ------
    ModelLoadError
        The folder lacks ``configs/metadata.json`` or a model file.
    """
    folder = Path(folder)
    meta_path = folder / "configs" / "metadata.json"
    if not meta_path.is_file():
        raise ModelLoadError(f"{folder} is not a MONAI bundle: {meta_path} is missing")
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    ts = folder / "models" / "model.ts"
    pt = folder / "models" / "model.pt"
    configs = [p for p in (folder / "configs").glob("inference.*") if p.suffix in (".json", ".yaml", ".yml")]
    net: nn.Module
    if pt.is_file() and (configs and (prefer_eager or not ts.is_file())):
        from monai.bundle import ConfigParser

        parser = ConfigParser()
        parser.read_config(str(configs[0]))
        parser["bundle_root"] = str(folder)
        net = parser.get_parsed_content("network_def")
        state = torch.load(str(pt), map_location="cpu", weights_only=True)
        net.load_state_dict(state.get("model", state) if isinstance(state, dict) else state)
    elif ts.is_file():
        net = torch.jit.load(str(ts), map_location="cpu")
    elif pt.is_file():
        raise ModelLoadError(f"{pt} is a state dict but {folder / 'configs'} has no inference.json defining network_def")
    else:
        raise ModelLoadError(f"{folder / 'models'} holds neither model.ts nor model.pt")
    net.eval()
    return net, meta


def load_model(path: str | os.PathLike[str], prefer_eager: bool = True) -> tuple[nn.Module, dict[str, Any]]:
    """Load a TorchScript file or a bundle folder (by what ``path`` is)."""
    p = Path(path)
    if p.is_dir():
        return load_bundle(p, prefer_eager=prefer_eager)
    return load_torchscript(p)
