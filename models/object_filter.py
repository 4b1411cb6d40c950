"""The object filter's classifier as shipped with an ensemble: an ONNX file listed in the
manifest (``object_filter``: file, SHA-256, feature names, calibrated cut), verified before it is
read and run with ONNX Runtime on CPU. The features themselves and the fitting live with the
detection chain (``monitor.pipeline.object_filter``, ``monitor.ops.filter_fit``); this module
only scores rows of features, so the ensemble carries its filter without importing ``monitor``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from models.manifest import ManifestError, ObjectFilterEntry, read_manifest, verified_file

if TYPE_CHECKING:
    import onnxruntime

__all__ = ["ObjectFilterModel"]


@dataclass
class ObjectFilterModel:
    """:meth:`score` gives each row of features its probability of being a landslide; rows
    below ``cut`` are suppressed."""

    session: onnxruntime.InferenceSession
    entry: ObjectFilterEntry
    path: Path
    ensemble: str  # the ensemble_id of the manifest it came with (its features use it)

    @property
    def cut(self) -> float:
        return self.entry.cut

    @property
    def features(self) -> tuple[str, ...]:
        return tuple(self.entry.features)

    @classmethod
    def load(cls, base_dir: Path, entry: ObjectFilterEntry, ensemble: str) -> ObjectFilterModel:
        """The file of ``entry`` in ``base_dir`` after checking its SHA-256;
        :class:`ManifestError` naming the file when it is missing, altered or unreadable.
        ``ensemble``: the :attr:`~models.manifest.ManifestModel.ensemble_id` of its manifest."""
        path = verified_file(
            Path(base_dir) / entry.file,
            entry.sha256,
            "object filter: file",
            "Restore the original file, or refit it (python -m monitor.ops.filter_fit), which "
            "writes a new manifest entry",
        )
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        try:
            session = onnxruntime.InferenceSession(
                str(path), options, providers=["CPUExecutionProvider"]
            )
        except Exception as err:  # onnxruntime raises its own exception types
            raise ManifestError(f"object filter: cannot read {path}: {err}") from err
        return cls(session, entry, path, ensemble)

    @classmethod
    def from_manifest(cls, manifest_path: str | Path) -> ObjectFilterModel | None:
        """The filter the manifest at ``manifest_path`` lists; None when it lists none."""
        manifest_path = Path(manifest_path)
        manifest = read_manifest(manifest_path)
        entry = manifest.object_filter
        return (
            None if entry is None else cls.load(manifest_path.parent, entry, manifest.ensemble_id)
        )

    def score(self, x: np.ndarray) -> np.ndarray:
        """Landslide probability of each row of features ``(n, len(features))``."""
        x = np.asarray(x, dtype=np.float32)
        if x.ndim != 2 or x.shape[1] != len(self.entry.features):
            raise ValueError(
                f"object filter {self.path} takes {len(self.entry.features)} features, got an "
                f"array of shape {x.shape}"
            )
        if len(x) == 0:
            return np.zeros(0, dtype=np.float64)
        name = self.session.get_inputs()[0].name
        outputs: list[Any] = self.session.run(None, {name: x})
        probabilities = outputs[1]
        if isinstance(probabilities, list):  # ZipMap output: one {class: p} per row
            return np.array([float(p[1]) for p in probabilities])
        return np.asarray(probabilities, dtype=np.float64)[:, 1]
