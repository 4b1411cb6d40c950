"""Make ``torchvision`` importable next to the pinned CPU torch wheel.

torchvision 0.28's compiled extension does not load with the pinned ``torch==2.13.0+cpu`` wheel,
so ``import torchvision`` stops in ``torchvision/_meta_registrations.py`` with
``RuntimeError: operator torchvision::nms does not exist`` (it registers fake kernels for ops
that were never defined). timm and segmentation-models-pytorch import torchvision, so the whole
zoo breaks with it. The models never call torchvision's detection ops; defining the two missing
schemas before torchvision is imported is enough for the import to succeed. Calling
``torchvision.ops.nms`` afterwards still fails (no kernel), which is the honest outcome.

:func:`ensure_torchvision_importable` acts only when needed: it first loads torchvision's own
extension the way ``torchvision.extension`` does; when that works (a matching torchvision), or
torchvision is absent or already imported, it does nothing. Every module of ``models`` that
imports smp or timm calls it first (``models.zoo`` does it on import).
"""

from __future__ import annotations

import functools
import importlib.util
import sys
from pathlib import Path

__all__ = ["ensure_torchvision_importable"]

# The two schemas torchvision registers fake kernels for at import (torchvision/csrc/ops/nms.cpp).
_MISSING_SCHEMAS: tuple[str, ...] = (
    "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
)
_LIBRARIES: list[object] = []  # keep the Library objects alive: dropping them unregisters the ops


@functools.cache
def ensure_torchvision_importable() -> bool:
    """Define ``torchvision::nms``/``qnms`` if torchvision's own extension did not.

    Returns True when the workaround was applied, False when it was not needed."""
    import torch

    if "torchvision" in sys.modules or importlib.util.find_spec("torchvision") is None:
        return False
    if _op_exists("nms") or _extension_loads(torch):
        return False
    # torch.library.Library and its define() carry no annotations
    lib = torch.library.Library("torchvision", "DEF")  # type: ignore[no-untyped-call]
    for schema in _MISSING_SCHEMAS:
        name = schema.split("(", 1)[0]
        if not _op_exists(name):
            lib.define(schema)  # type: ignore[no-untyped-call]
    _LIBRARIES.append(lib)
    return True


def _extension_loads(torch: object) -> bool:
    """Whether torchvision's compiled ops load (which registers ``nms`` itself)."""
    spec = importlib.util.find_spec("torchvision")
    if spec is None or not spec.submodule_search_locations:
        return False
    for folder in spec.submodule_search_locations:
        for candidate in Path(folder).glob("_C.*"):
            if candidate.suffix in {".so", ".pyd", ".dylib"}:
                try:
                    torch.ops.load_library(str(candidate))  # type: ignore[attr-defined]
                except (ImportError, OSError):
                    return False
                return _op_exists("nms")
    return False


def _op_exists(name: str) -> bool:
    import torch

    try:
        torch._C._dispatch_find_schema_or_throw(f"torchvision::{name}", "")
    except RuntimeError:
        return False
    return True
