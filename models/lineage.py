"""Where a fine-tuned ensemble came from: its parent manifest and the dataset it was tuned on,
each by SHA-256, recorded under ``training.lineage`` of the new manifest (the manifest's schema
is unchanged: ``training`` is free-form) and checked by :func:`verify_lineage`
(``python -m models lineage``).

The dataset's hash covers every scene file of a Ganerød-layout dataset (``<split>/input/*.tif``
and ``<split>/label/*.tif``, by relative path and content), so relabelling one pixel changes it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from models.manifest import ManifestError, read_manifest, sha256_file, verified_file

__all__ = ["Lineage", "dataset_files", "dataset_sha256", "lineage_of", "verify_lineage"]


class Lineage(BaseModel):
    """The record under ``training.lineage``."""

    model_config = ConfigDict(extra="forbid")
    method: str = "finetune"
    parent_manifest: str  # the path it was read from (absolute)
    parent_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    dataset: str  # the dataset folder (absolute)
    dataset_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    dataset_files: int = Field(ge=1)


def dataset_files(root: Path) -> list[Path]:
    """The scene files of a dataset folder: ``input``/``label`` GeoTIFFs of the folder itself or
    of its split folders, sorted by relative path; hidden files (a killed writer's temporary
    ``.NAME.<hex>.part.tif``, :func:`models.atomic.write_atomically`) are none."""
    root = Path(root)
    files = [
        p
        for pattern in ("input/*.tif", "label/*.tif", "*/input/*.tif", "*/label/*.tif")
        for p in root.glob(pattern)
        if not p.name.startswith(".")
    ]
    return sorted(set(files), key=lambda p: p.relative_to(root).as_posix())


def dataset_sha256(root: Path) -> tuple[str, int]:
    """SHA-256 over the relative path and content hash of every scene file of ``root``, and the
    number of files; :class:`ManifestError` when there is none."""
    root = Path(root)
    files = dataset_files(root)
    if not files:
        raise ManifestError(f"{root}: no scene files (input/*.tif, label/*.tif) to hash")
    h = hashlib.sha256()
    for path in files:
        h.update(f"{path.relative_to(root).as_posix()}\0{sha256_file(path)}\n".encode())
    return h.hexdigest(), len(files)


def lineage_of(parent_manifest: Path, dataset: Path, method: str = "finetune") -> Lineage:
    """The lineage record of a model derived from ``parent_manifest`` on ``dataset`` by
    ``method`` (``finetune``, ``extend``)."""
    digest, n = dataset_sha256(dataset)
    return Lineage(
        method=method,
        parent_manifest=str(Path(parent_manifest).resolve()),
        parent_sha256=sha256_file(Path(parent_manifest)),
        dataset=str(Path(dataset).resolve()),
        dataset_sha256=digest,
        dataset_files=n,
    )


def verify_lineage(
    manifest: Path, *, parent: Path | None = None, dataset: Path | None = None
) -> Lineage:
    """Check a derived manifest's lineage: its parent manifest (``parent``, default the recorded
    path) and dataset (``dataset``, default the recorded folder) hash to the recorded values, and
    its members are the parent's (by name: fine-tuning and extending keep them) and their weights
    hash to the recorded values. Returns the lineage; raises :class:`ManifestError` naming
    the file that differs."""
    manifest = Path(manifest)
    model = read_manifest(manifest)
    raw: Any = model.training.get("lineage")
    if raw is None:
        raise ManifestError(
            f"{manifest}: no training.lineage (not a fine-tuned or extended manifest)"
        )
    try:
        lineage = Lineage.model_validate(raw)
    except ValidationError as err:
        raise ManifestError(f"{manifest}: invalid training.lineage: {err}") from err
    parent_path = Path(parent) if parent is not None else Path(lineage.parent_manifest)
    if not parent_path.is_file():
        raise ManifestError(
            f"{manifest}: parent manifest {parent_path} not found (moved: give its new place, "
            "`lineage --parent P`)"
        )
    got = sha256_file(parent_path)
    if got != lineage.parent_sha256:
        raise ManifestError(
            f"{manifest}: parent manifest {parent_path} has SHA-256 {got}, the lineage records "
            f"{lineage.parent_sha256}: it is not the manifest this model was derived from "
            "(rewritten since, as `operating_point --write` and a refit rewrite theirs, or "
            "another: give the one it was derived from, `lineage --parent P`)"
        )
    data_path = Path(dataset) if dataset is not None else Path(lineage.dataset)
    if dataset is None and not data_path.is_dir():  # a walk got "no scene files to hash"
        raise ManifestError(
            f"{manifest}: the dataset it was derived from, {data_path} (as its lineage records "
            "it), is not there: moved, give its new place (`lineage --data D`)"
        )
    digest, n = dataset_sha256(data_path)
    if digest != lineage.dataset_sha256:
        raise ManifestError(
            f"{manifest}: dataset {data_path} ({n} files) hashes to {digest}, the lineage "
            f"records {lineage.dataset_sha256} ({lineage.dataset_files} files): scenes were "
            "added, removed or relabelled since"
        )
    # found in a walkthrough: a checkpoint imported into a fine-tuned manifest was "verified"
    # as derived from the parent on the dataset; fine-tuning and extending keep the parent's
    # member names, so a name the parent lacks joined after the derivation
    parents = {m.name for m in read_manifest(parent_path).members}
    joined = [m for m in model.members if m.name not in parents]
    if joined:
        listed = ", ".join(f"{m.name} (origin {m.origin})" for m in joined)
        raise ManifestError(
            f"{manifest}: member(s) {listed} are not among the parent manifest's ({parent_path}): "
            f"they joined after the {lineage.method} (import-checkpoint?), so the lineage does "
            "not describe this ensemble; derive it again from a manifest that holds them"
        )
    for entry in model.members:
        what = f"{manifest}: member {entry.name}: weights file"
        verified_file(manifest.parent / entry.file, entry.sha256, what, "Restore the original file")
    return lineage
