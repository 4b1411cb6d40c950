"""Import of the published Ganerød et al. checkpoints (PyTorch Lightning ``.ckpt``) into the
manifest format.

Their ``LandslideLitModule`` keeps the smp network as ``self.net`` (so the weights are under the
``net.`` prefix of ``state_dict``) and calls ``save_hyperparameters``, so ``hyper_parameters``
holds the pickled network, loss and ``functools.partial(torch.optim.Adam, lr=...)``. A plain
``torch.load`` would execute those objects' classes; :func:`read_lightning_checkpoint` instead
uses an unpickler that builds tensors only through torch's own weights-only allow-list and turns
every other class into an inert :class:`PickledObject` record (its qualified name and state),
from which the architecture, loss and learning rate are read. No code from the file runs.

The per-band normalisation is not in the checkpoint (their data module computes it over the
training folder), so the import takes it from a statistics file or a Ganerød-layout folder.
"""

from __future__ import annotations

import functools
import logging
import math
import os
import pickle
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import IO, Any

import torch
from pydantic import ValidationError

from models.console import is_number_text
from models.datasets import L4S_BANDS, channels_of
from models.feature_stack import MODEL_BANDS, SETTINGS
from models.manifest import (
    BUNDLED,
    DEFAULT_MANIFEST,
    ManifestError,
    ManifestModel,
    MemberEntry,
    SettingEntry,
    member_entry,
    read_manifest,
    save_member_weights,
    write_manifest,
)
from models.worldcover import WORLDCOVER_CLASSES
from models.zoo import (
    Member,
    MemberSpec,
    build_network,
    canonical_architecture,
    canonical_loss,
    nonfinite_weights,
    state_mismatch,
)

log = logging.getLogger(__name__)

__all__ = [
    "CheckpointError",
    "PickledObject",
    "import_checkpoint",
    "imported_statistics",
    "infer_spec",
    "read_lightning_checkpoint",
    "read_statistics",
]

NET_PREFIX = "net."
DATA_PARALLEL_PREFIX = "module."  # what nn.DataParallel and DDP put before their module's keys
SMP_DEFAULT_ENCODER = "resnet34"  # smp's default, which the published configs leave unchanged


class CheckpointError(ValueError):
    """A checkpoint that cannot be imported (names the file and what is missing)."""


class PickledObject:
    """An inert stand-in for an object of a class that is not on the allow-list."""

    qualname = "?"
    # What the pickle stream gave the object: any picklable values.
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    state: Any
    items: list[Any]

    def __new__(cls, *args: Any, **kwargs: Any) -> PickledObject:
        obj = object.__new__(cls)
        obj.args, obj.kwargs, obj.state, obj.items = args, kwargs, None, []
        return obj

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def append(self, item: Any) -> None:
        self.items.append(item)

    def extend(self, items: Sequence[Any]) -> None:
        self.items.extend(items)

    def __setitem__(self, key: Any, value: Any) -> None:
        self.items.append((key, value))

    def __repr__(self) -> str:
        return f"<pickled {self.qualname}>"

    def attribute(self, name: str) -> Any:
        """An attribute from the pickled state (``__dict__`` or a (dict, slots) pair)."""
        state = self.state
        if isinstance(state, tuple) and state and isinstance(state[0], dict):
            state = state[0]
        return state.get(name) if isinstance(state, dict) else None


@functools.cache
def _stub(qualname: str) -> type[PickledObject]:
    return type(qualname.rsplit(".", 1)[-1], (PickledObject,), {"qualname": qualname})


def _reconstructor(cls: Any, base: Any, state: Any) -> PickledObject:
    if not (isinstance(cls, type) and issubclass(cls, PickledObject)):
        raise pickle.UnpicklingError(f"refusing to reconstruct {cls!r}")
    return cls.__new__(cls)


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        from torch._weights_only_unpickler import _get_allowed_globals

        full = f"{module}.{name}"
        allowed = _get_allowed_globals()
        if full in allowed:
            return allowed[full]
        if full == "copyreg._reconstructor":
            return _reconstructor
        return _stub(full)


def _restricted_load(file: IO[bytes], **kwargs: Any) -> Any:
    """``pickle.load`` through :class:`_RestrictedUnpickler`: torch's legacy (non-zip) loader
    unpickles a file's first records with ``pickle_module.load``, not its ``Unpickler``."""
    return _RestrictedUnpickler(file, **kwargs).load()


_restricted_pickle = ModuleType("models._restricted_pickle")
_restricted_pickle.Unpickler = _RestrictedUnpickler  # type: ignore[attr-defined]
_restricted_pickle.load = _restricted_load  # type: ignore[attr-defined]
_restricted_pickle.__name__ = "models._restricted_pickle"


def _network_key(key: str) -> str | None:
    """The network's own name of a ``state_dict`` key under :data:`NET_PREFIX`, without the
    ``module.`` of ``nn.DataParallel`` or DDP where it wrapped the Lightning module
    (``module.net.``) or the network (``net.module.``); None for a key of anything else."""
    key = key.removeprefix(DATA_PARALLEL_PREFIX)
    if not key.startswith(NET_PREFIX):
        return None
    return key[len(NET_PREFIX) :].removeprefix(DATA_PARALLEL_PREFIX)


#: How the docs save a network of one's own for an import (docs/models.md, "Importing the
#: published models").
_OWN = (
    'a network of your own is saved as torch.save({"state_dict": {"net." + k: v for k, v in '
    "model.state_dict().items()}}, PATH) and imported with --architecture and --encoder"
)


def _is_safetensors(path: Path) -> bool:
    """Whether ``path`` begins as a safetensors file: an 8-byte little-endian length, then
    that many bytes of a JSON header (``{``), within the file."""
    try:
        with path.open("rb") as f:
            head = f.read(9)
        size = path.stat().st_size
    except OSError:
        return False  # torch.load says why
    return len(head) == 9 and head[8:9] == b"{" and int.from_bytes(head[:8], "little") < size


def _unreadable(path: Path, err: BaseException) -> str:
    """Why ``torch.load`` failed on ``path``, said of the file where it is no file
    ``torch.save`` writes (a zip archive, or a pickle in torch's legacy format): unpickling
    any other file said only "invalid load key" or "Memo value not found" (found in a
    walkthrough)."""
    if isinstance(err, OSError):
        return f"{err.strerror or err}"
    try:
        with path.open("rb") as f:
            head = f.read(16)
    except OSError:
        return str(err)
    if head.startswith((b"PK\x03\x04", b"\x80")):  # torch.save's formats: torch's word stands
        return str(err)
    return (
        "not a file torch.save writes (a zip archive, or a pickle in torch's legacy format, "
        f"as Lightning's .ckpt files are): it begins with {head!r}"
    )


def read_lightning_checkpoint(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The network's state dict (``net.`` prefix removed, and a ``module.`` of DataParallel
    around it or the network) and the hyper-parameters (with
    :class:`PickledObject` records in place of objects) of a Lightning checkpoint."""
    path = Path(path)
    if _is_safetensors(path):  # torch.load reads them, as a bare dict: "no 'state_dict'" said
        raise CheckpointError(
            f"{path}: it holds safetensors weights, not a checkpoint torch.save wrote (a "
            f"member's weights in a manifest's folder are safetensors); {_OWN}"
        )
    try:
        ckpt = torch.load(path, map_location="cpu", pickle_module=_restricted_pickle,
                          weights_only=False)  # fmt: skip
    except (OSError, RuntimeError, pickle.UnpicklingError, EOFError) as err:
        raise CheckpointError(f"{path}: cannot read checkpoint: {_unreadable(path, err)}") from err
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt:
        # found in a walkthrough: a network's own state_dict, or the pickled network, got no
        # word of how the docs say to save one's own (docs/models.md, "Importing the published
        # models")
        raise CheckpointError(f"{path}: no 'state_dict' (not a Lightning checkpoint); {_OWN}")
    weights = ckpt["state_dict"]
    if not isinstance(weights, Mapping):  # a whole model pickled there: a traceback before
        kind = weights.qualname if isinstance(weights, PickledObject) else type(weights).__name__
        raise CheckpointError(
            f"{path}: its 'state_dict' is a {kind}, not a mapping of names to tensors: save "
            "the network's model.state_dict() under it, its keys prefixed 'net.'"
        )
    state = {
        name: v
        for k, v in weights.items()
        if (name := _network_key(k)) is not None and isinstance(v, torch.Tensor)
    }
    if not state:
        prefixes = sorted({str(k).split(".", 1)[0] + "." for k in weights if "." in str(k)})
        found = f" (its keys start with {', '.join(prefixes[:5])})" if prefixes else ""
        raise CheckpointError(
            f"{path}: no weights under the '{NET_PREFIX}' prefix{found}; a state dict of the "
            f"network alone, or of DataParallel's 'module.', needs the '{NET_PREFIX}' prefix "
            "on every key (docs/models.md, Importing the published models)"
        )
    hparams = ckpt.get("hyper_parameters") or ckpt.get("hparams") or {}
    return state, dict(hparams) if isinstance(hparams, Mapping) else {}


def _class_name(obj: Any) -> str | None:
    if isinstance(obj, PickledObject):
        return obj.qualname.rsplit(".", 1)[-1]
    if isinstance(obj, Mapping) and "_target_" in obj:  # hydra-style config dict
        return str(obj["_target_"]).rsplit(".", 1)[-1]
    if isinstance(obj, str):
        return obj.rsplit(".", 1)[-1]
    return None


def _learning_rate(optimizer: Any) -> float | None:
    if isinstance(optimizer, PickledObject) and isinstance(optimizer.state, tuple):
        # functools.partial state: (func, args, keywords, __dict__)
        for part in optimizer.state:
            if isinstance(part, Mapping) and "lr" in part:
                return float(part["lr"])
    if isinstance(optimizer, Mapping) and "lr" in optimizer:
        return float(optimizer["lr"])
    return None


def _encoder_name(net: Any) -> str | None:
    if isinstance(net, PickledObject):
        name = net.attribute("name")  # smp models set name = "<prefix>-<encoder>"
        if isinstance(name, str) and "-" in name:
            return name.split("-", 1)[1]
    return None


_WRAPPERS = ("DataParallel", "DistributedDataParallel")


def _unwrapped(net: Any) -> Any:
    """The network a pickled ``nn.DataParallel`` or DDP wraps (its ``module``), else ``net``."""
    if isinstance(net, PickledObject) and _class_name(net) in _WRAPPERS:
        modules = net.attribute("_modules")
        if isinstance(modules, Mapping) and "module" in modules:
            return modules["module"]
    return net


def _in_channels(state: Mapping[str, torch.Tensor]) -> tuple[str, int]:
    """The first convolution of the encoder in the weights, and its input channels."""
    for key, value in state.items():
        if key.startswith("encoder.") and value.ndim == 4:
            return key, int(value.shape[1])
    raise CheckpointError("cannot find the encoder's first convolution in the weights")


def infer_spec(
    state: Mapping[str, torch.Tensor],
    hparams: Mapping[str, Any],
    *,
    architecture: str | None = None,
    encoder: str | None = None,
    loss: str | None = None,
    learning_rate: float | None = None,
    setting: str | None = None,
) -> MemberSpec:
    """The member spec of a checkpoint; explicit arguments override what the file says."""
    net, lossobj = _unwrapped(hparams.get("net")), hparams.get("loss")
    arch = architecture or _class_name(net)
    if arch is None:
        raise CheckpointError(
            "architecture unknown: the checkpoint does not name its network; give "
            "--architecture (Unet, Linknet, ...) and --encoder (its smp encoder, "
            f"{SMP_DEFAULT_ENCODER} if none is given)"
        )
    first, n = _in_channels(state)
    head = state.get("segmentation_head.0.weight")  # smp's head: (classes, ...)
    if head is not None and head.shape[0] != 1:  # not a wrong architecture, which it suggested
        raise CheckpointError(
            f"the network has {head.shape[0]} output classes; a member has one (the landslide "
            "logit, binary segmentation as in Ganerød et al.), so it cannot be imported"
        )
    if setting is None:
        matches = [s for s, idx in SETTINGS.items() if len(idx) == n]
        if len(matches) != 1:
            sizes = ", ".join(f"{s} {len(idx)}" for s, idx in SETTINGS.items())
            # the convolution named: a state dict without the encoder's own first one was read
            # by another's (found by an ML researcher's walk: "64 input channels")
            raise CheckpointError(
                f"{n} input channels match "
                + ("several settings; name one with --setting" if matches else "no setting")
                + f" (bands per setting: {sizes}); read from {first}, the first convolution of "
                "the encoder in the weights (a state dict that lacks the encoder's own first "
                "one, encoder.conv1.weight in a ResNet, is read by another's)"
            )
        setting = matches[0]
    if len(channels_of(setting)) != n:
        raise CheckpointError(f"setting {setting!r} has {len(channels_of(setting))} bands, the "
                              f"checkpoint {n}")  # fmt: skip
    found_loss = loss or _class_name(lossobj)
    found_lr = learning_rate or _learning_rate(hparams.get("optimizer"))
    found_encoder = encoder or _encoder_name(net)
    for what, value, fallback, option in (
        ("loss", found_loss, "BCE", "--loss"),
        ("learning rate", found_lr, "0.001", "--lr"),
        # found on a walk: another encoder then failed with a screen of missing weights
        ("encoder", found_encoder, SMP_DEFAULT_ENCODER, "--encoder"),
    ):
        if value is None:  # fine-tuning starts from it (--lr-scale scales the learning rate)
            log.warning(
                "the checkpoint names no %s: %s assumed (give %s if it was another)",
                what, fallback, option,
            )  # fmt: skip
    return MemberSpec(
        architecture=canonical_architecture(arch),
        encoder=found_encoder or SMP_DEFAULT_ENCODER,
        loss=canonical_loss(found_loss or "BCE"),
        learning_rate=found_lr or 0.001,
        setting=setting,
        in_channels=n,
    )


_DEFAULT_THRESHOLD = 0.5  # an imported setting's until one is calibrated


def read_statistics(path: Path) -> tuple[list[float], list[float]]:
    """15-band mean and std from a CSV with ``band_mean``/``band_std`` columns (as the
    published code's ``compute_metadata`` writes) or a JSON ``{"mean": [...], "std": [...]}``."""
    path = Path(path)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as err:
        raise CheckpointError(f"{path}: cannot read the statistics: {err}") from None
    if path.suffix.lower() == ".json":
        mean, std = _json_statistics(path, text)
    else:
        mean, std = _csv_statistics(path, text)
    if len(mean) != len(MODEL_BANDS) or len(std) != len(MODEL_BANDS):
        raise CheckpointError(f"{path}: {len(mean)} bands of statistics, expected 15")
    bad = [
        f"{band} (mean {m:g}, std {s:g})"
        for band, m, s in zip(MODEL_BANDS, mean, std, strict=True)
        if not (math.isfinite(m) and math.isfinite(s) and s > 0)
    ]
    if bad:  # a std of 0 was clamped to 1e-6 and a NaN read later as a tampered file
        raise CheckpointError(
            f"{path}: statistics a member cannot normalise with: {', '.join(bad[:5])}; every "
            "mean must be finite and every std positive"
        )
    return mean, std


def _json_statistics(path: Path, text: str) -> tuple[list[float], list[float]]:
    """``{"mean": [...], "std": [...]}``; a :class:`CheckpointError` naming the file and the
    list that is missing or not numbers."""
    import json

    try:
        raw = json.loads(text)
    except json.JSONDecodeError as err:
        raise CheckpointError(f"{path}: not valid JSON: {err}") from None
    lists: list[list[float]] = []
    for key in ("mean", "std"):
        values = raw.get(key) if isinstance(raw, dict) else None
        if values is None:
            raise CheckpointError(f'{path}: no "{key}" list (expected {{"mean": [...], '
                                  '"std": [...]}, 15 numbers each)')  # fmt: skip
        if not isinstance(values, list) or not all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in values
        ):
            raise CheckpointError(f'{path}: "{key}" is not a list of numbers')
        lists.append([float(v) for v in values])
    return lists[0], lists[1]


# the columns of a statistics CSV that may name each row's band (pandas writes its index, the
# band names, as a first column without a name: only there is a nameless column one)
_BAND_NAME_COLUMNS = ("band", "name", "")


def _csv_statistics(path: Path, text: str) -> tuple[list[float], list[float]]:
    """The ``band_mean`` and ``band_std`` columns, one row a band: in the layout's order, or in
    any order where a column (:data:`_BAND_NAME_COLUMNS`) names the bands; a
    :class:`CheckpointError` naming the file, and the line, band and column of every cell that
    is not a number."""
    import csv
    import io

    reader = csv.DictReader(io.StringIO(text, newline=""))
    missing = [c for c in ("band_mean", "band_std") if c not in (reader.fieldnames or [])]
    if missing:
        raise CheckpointError(f"{path}: no column {', '.join(missing)} (band_mean, band_std)")
    rows, lines = [], []  # each row and the line it ends on (blank lines are skipped)
    for row in reader:
        rows.append(row)
        lines.append(reader.line_num)
    order = list(range(len(rows)))  # the row of each band
    names = _band_names(path, rows, reader.fieldnames or [])
    if names is not None:  # found in a walk: rows sorted by name were read by position
        order = [names.index(band) for band in MODEL_BANDS]
    columns: dict[str, list[float]] = {"band_mean": [], "band_std": []}
    bad: list[str] = []
    for i, n in enumerate(order):
        row = rows[n]
        band = MODEL_BANDS[i] if i < len(MODEL_BANDS) else f"band {i + 1}"
        for column, values in columns.items():
            cell = row.get(column) or ""  # None where the row is a cell short
            try:
                values.append(float(cell))
            except ValueError:
                shown = repr(cell) if cell.strip() else "empty"
                bad.append(f"line {lines[n]} ({band}) {column} {shown}")
    if bad:
        more = f"; and {len(bad) - 5} more" if len(bad) > 5 else ""
        raise CheckpointError(f"{path}: not a number: {'; '.join(bad[:5])}{more}")
    return columns["band_mean"], columns["band_std"]


def _band_names(
    path: Path, rows: list[dict[str, str | None]], fieldnames: Sequence[str]
) -> list[str] | None:
    """The band each row names, in the rows' order, where a column of
    :data:`_BAND_NAME_COLUMNS` holds names (not numbers: the published code's index); None
    where none does. A :class:`CheckpointError` where the names are not the layout's 15 bands,
    each once."""
    for column in _BAND_NAME_COLUMNS:
        if column not in fieldnames or (column == "" and fieldnames[0] != ""):
            continue  # a nameless column elsewhere: a trailing comma's, read as no column
        cells = [(row.get(column) or "").strip() for row in rows]
        if all(is_number_text(cell) or not cell for cell in cells):
            continue
        unknown = [cell or "(empty)" for cell in cells if cell not in MODEL_BANDS]
        twice = sorted({cell for cell in cells if cell in MODEL_BANDS and cells.count(cell) > 1})
        absent = [band for band in MODEL_BANDS if band not in cells]
        if unknown or twice or absent:
            said = [
                f"{label}: {', '.join(values)}"
                for label, values in (("not bands", unknown), ("twice", twice), ("missing", absent))
                if values
            ]
            heading = repr(column) if column else "the unnamed first column"
            raise CheckpointError(
                f"{path}: {heading} names the bands, but not the layout's "
                f"{len(MODEL_BANDS)} once each ({'; '.join(said)}); the bands are "
                f"{', '.join(MODEL_BANDS)} (names as written, case and all)"
            )
        return cells
    return None


def _same_network(net: torch.nn.Module, weights: Path) -> bool:
    """Whether the member saved in ``weights`` has the network ``net`` (a member's ``net``)
    with its weights (whatever the member's normalisation); False when the file cannot be
    read."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        stored = load_file(str(weights))
    except (SafetensorError, OSError):
        return False
    own = {f"net.{k}": v for k, v in net.state_dict().items()}
    return own.keys() == {k for k in stored if k.startswith("net.")} and all(
        torch.equal(v.detach().cpu(), stored[k]) for k, v in own.items()
    )


def _manifest_file(text: str | Path) -> Path:
    """``--manifest`` as a file path: one that ends in a path separator (or in ``.`` or
    ``..``) names a folder, which ``Path`` would quietly make a file name of (``pub2/`` became
    a manifest file named ``pub2``, the weights beside it in its parent); refused as an
    existing folder is (:func:`models.manifest.read_manifest`), before anything is written."""
    raw = os.fspath(text)
    if os.path.basename(raw) in ("", ".", ".."):  # "pub2/", "pub2/.", "..", "/"
        raise ManifestError(f"{raw} names a folder: pass {Path(raw) / 'manifest.json'}")
    if raw == BUNDLED or Path(raw).resolve() == DEFAULT_MANIFEST:
        # found by an ML researcher's walk: `default` became a manifest file of that name in
        # the working folder, and the bundled manifest's path was rewritten in place (an
        # upgrade replaces it; every configuration of the default got the member)
        raise ManifestError(
            f"--manifest {raw} is the bundled ensemble, which an import would rewrite in place: "
            "import into a copy, made with `python -m models copy default mine`, and give "
            "mine/manifest.json (a file or folder named default here is ./default)"
        )
    return Path(raw)


def _twin(
    spec: MemberSpec, net: torch.nn.Module, manifest: ManifestModel, base: Path, name: str
) -> MemberEntry | None:
    """The member of ``manifest``, other than the one named ``name``, whose weights file (in
    ``base``) holds the network ``net`` (of ``spec``) whatever its statistics: a renamed copy
    of its checkpoint. Compared tensor by tensor, not by the files' SHA-256, which differs
    with the checkpoint's name recorded in the file; only members of the same setting and
    network are read, as no other can hold the same weights. None when there is none."""
    for m in manifest.members:
        if m.name == name or (m.setting, m.architecture, m.encoder) != (
            spec.setting, spec.architecture, spec.encoder
        ):  # fmt: skip
            continue
        if _same_network(net, base / m.file):
            return m
    return None


def _warn_of_another_land_cover(setting: str, idx: Sequence[int], mean: Sequence[float]) -> None:
    """Warn where the statistics' ``landcover`` band cannot be of ESA WorldCover codes (10-100:
    a mean below the lowest), which this project's stacks hold there. Ganerød et al.'s band 13
    is another map: a land-cover classification trained for each case study with CART in
    Earth Engine (eight classes, Table 2 and section 2.2), so their S2, S1+S2 and all members
    read WorldCover codes normalised with their own classes' statistics."""
    if _LANDCOVER not in idx or not math.isfinite(float(mean[_LANDCOVER])):
        return
    if float(mean[_LANDCOVER]) < min(WORLDCOVER_CLASSES):
        log.warning(
            "setting %s reads band %d (landcover), whose mean in these statistics is %.3g: "
            "not ESA WorldCover codes (%d-%d), which this project's stacks hold there (Ganerød "
            "et al.'s band 13 is a land-cover classification made for each case study). The "
            "member will read WorldCover codes normalised as its own classes: fine-tune it on "
            "stacks of your region (python -m models finetune) before trusting it",
            setting, _LANDCOVER, float(mean[_LANDCOVER]),
            min(WORLDCOVER_CLASSES), max(WORLDCOVER_CLASSES),
        )  # fmt: skip


_LANDCOVER = MODEL_BANDS.index("landcover")


def imported_statistics(
    manifest_path: str | Path, checkpoint: Path
) -> tuple[list[float], list[float]] | None:
    """The statistics the member imported from ``checkpoint``'s file name into the manifest at
    ``manifest_path`` was given (its setting's bands; NaN for the others, which it does not
    read), where exactly one such member is there; None otherwise. The same import again with
    ``--threshold`` changes the threshold alone (docs/models.md), and asked for the statistics
    again (found by an ML researcher's walk)."""
    path = Path(manifest_path)
    if not path.is_file():
        return None
    try:
        manifest = read_manifest(path)
    except ManifestError:  # the import names what is wrong with it
        return None
    origin = f"imported:{Path(checkpoint).name}"
    members = [m for m in manifest.members if m.origin == origin]
    if len(members) != 1:
        return None
    (member,) = members
    mean, std = [math.nan] * len(MODEL_BANDS), [math.nan] * len(MODEL_BANDS)
    for band, m, s in zip(
        member.bands, member.normalisation.mean, member.normalisation.std, strict=True
    ):
        mean[MODEL_BANDS.index(band)], std[MODEL_BANDS.index(band)] = m, s
    return mean, std


def import_checkpoint(
    checkpoint: Path,
    manifest_path: str | Path,
    statistics: tuple[Sequence[float], Sequence[float]]
    | Callable[[], tuple[Sequence[float], Sequence[float]]],
    *,
    val_f1: float | None = None,
    threshold: float | None = None,
    replace: bool = False,
    **overrides: Any,
) -> Path:
    """Convert ``checkpoint`` into a member of the ensemble at ``manifest_path`` (created if
    absent; the member joins its setting's list). ``statistics`` are the 15-band mean/std the
    model was trained with, or a function that computes them, called once the checkpoint is
    read and its network known (``--stats-from`` reads a whole folder: a file that is no
    checkpoint was refused only after it). A member of the same name (setting, network and
    file name) is kept when the weights are the same, and replaced only with ``replace``: another
    checkpoint of the same file name (``epoch_041.ckpt`` of another run) is refused rather than
    written over it. A network another member has (a renamed copy of its checkpoint) is
    refused, naming that member. ``manifest_path`` is a file: a path ending in a separator is
    refused as naming a folder (give it as text: ``Path`` drops the separator). Returns the
    manifest path."""
    checkpoint, manifest_path = Path(checkpoint), _manifest_file(manifest_path)
    if threshold is not None and not 0.0 <= threshold <= 1.0:
        raise CheckpointError(f"--threshold {threshold}: a probability threshold lies in [0, 1]")
    if val_f1 is not None and not 0.0 <= val_f1 <= 1.0:  # NaN too: evaluate ranks members by it
        raise CheckpointError(f"--val-f1 {val_f1}: an F1 score is a number in [0, 1]")
    # read before anything is written: a manifest that is refused then leaves no weights file
    # beside it, nor a member's weights replaced under its recorded checksum
    manifest = read_manifest(manifest_path) if manifest_path.exists() else None
    ensemble_before = manifest.ensemble_id if manifest is not None else None
    state, hparams = read_lightning_checkpoint(checkpoint)
    if (bad := nonfinite_weights(state)) is not None:  # a diverged run's: it predicts nothing
        raise CheckpointError(f"{checkpoint}: {bad}; its network would predict nothing")
    try:  # name the file the message is about, the zoo's refusals included (an architecture,
        # loss, setting or encoder it does not know: the file's or an override's)
        spec = infer_spec(state, hparams, **overrides)
        if spec.setting not in SETTINGS:  # the statistics are of MODEL_BANDS, not its bands
            raise ValueError(
                f"setting {spec.setting!r} (Landslide4Sense bands {L4S_BANDS[0]}-"
                f"{L4S_BANDS[11]}, {', '.join(L4S_BANDS[12:])}): the statistics an import "
                f"takes are the {len(MODEL_BANDS)} feature-stack bands', not its bands'; a "
                f"checkpoint of the feature-stack settings ({', '.join(SETTINGS)}) can be imported"
            )
    except ValueError as err:
        raise CheckpointError(f"{checkpoint}: {err}") from None
    try:  # the weights checked against the network before any statistics are read
        net = build_network(spec)
    except ValueError as err:
        raise CheckpointError(f"{checkpoint}: {err}") from None
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise CheckpointError(
            f"{checkpoint}: weights do not fit {spec.architecture} with encoder "
            f"{spec.encoder!r} (pass the right --architecture/--encoder): "
            f"{state_mismatch(net, state)}"
        ) from err
    name = f"{spec.name}-{checkpoint.stem}"
    file = f"{name}.safetensors"
    earlier = next((m for m in manifest.members if m.name == name), None) if manifest else None
    # before the statistics are read (found in a walk: a renamed copy imported without
    # statistics was told first that it held none)
    twin = _twin(spec, net, manifest, manifest_path.parent, name) if manifest else None
    if twin is not None:  # a renamed copy: the same network twice would count as two members
        source = twin.origin.removeprefix("imported:")
        hint = (
            f"; to give it other statistics, import {source} again with --replace"
            if twin.origin.startswith("imported:")
            else ""
        )
        raise CheckpointError(
            f"{checkpoint}: {manifest_path} has this network already as member {twin.name} "
            f"({twin.origin}): under another name it would be in the ensemble twice{hint}"
        )
    if callable(statistics):  # outside: its refusals are of the statistics' folder, not this file
        statistics = statistics()
    idx = channels_of(spec.setting)
    mean = [float(statistics[0][i]) for i in idx]
    std = [float(statistics[1][i]) for i in idx]
    try:
        member = Member(spec, mean, std)
        _warn_of_another_land_cover(spec.setting, idx, statistics[0])
    except ValueError as err:
        raise CheckpointError(f"{checkpoint}: {err}") from None
    member.net.load_state_dict(state, strict=True)  # fits: checked on its twin above
    # written beside the member first: another checkpoint of the same name is refused before
    # anything of the member it names is touched
    staged = manifest_path.parent / f".{file}.new"
    try:
        sha = save_member_weights(member, staged, {"source": checkpoint.name})
    except BaseException:  # Ctrl-C while the weights (~100 MB) are written: no hidden file left
        staged.unlink(missing_ok=True)  # (save_member_weights removes its own temporary file)
        raise
    if earlier is not None and earlier.sha256 != sha and not replace:
        staged.unlink()
        if _same_network(member.net, manifest_path.parent / earlier.file):
            raise CheckpointError(
                f"{checkpoint}: {manifest_path} has this checkpoint's network as member {name}, "
                "with other band statistics (its normalisation): pass --replace to import it "
                "with these (a new file name would put the same network in the ensemble twice)"
            )
        raise CheckpointError(
            f"{checkpoint}: {manifest_path} has a member {name} from another checkpoint of this "
            f"name (SHA-256 {earlier.sha256[:12]}..., this one {sha[:12]}...): rename the file "
            "to import it beside it, or pass --replace to put it in its place"
        )
    same = earlier is not None and earlier.sha256 == sha
    if earlier is not None and same and val_f1 is None:  # the same weights: their F1 stays
        val_f1 = earlier.val_f1
    elif earlier is not None and val_f1 is None and earlier.val_f1 is not None:
        # another network or normalisation: the F1 was of what is replaced (found by an ML
        # researcher's walk: dropped without a word, and evaluate's best single member moved)
        log.warning(
            "member %s: its validation F1 %.3f was of the weights replaced and is dropped; "
            "give --val-f1 for these",
            name,
            earlier.val_f1,
        )
    entry = member_entry(member, file, sha, val_f1=val_f1, origin=f"imported:{checkpoint.name}")
    entry.name = name
    before = manifest.model_dump() if manifest is not None else None
    try:  # the new manifest checked whole before the weights take the member's place
        if manifest is not None:
            # in its place when it is there: the same checkpoint again leaves the manifest as
            # it was (a fine-tuned child's lineage holds its SHA-256)
            manifest.members = [entry if m.name == name else m for m in manifest.members]
            if earlier is None:
                manifest.members.append(entry)
            current = manifest.settings.get(spec.setting)
            names = list(current.members) if current else []
            names += [] if name in names else [name]
            # --threshold given: the setting's new threshold; else the one it has (0.5 when new)
            kept = current.threshold if current else _DEFAULT_THRESHOLD
            new_threshold = kept if threshold is None else threshold
            setting_f1 = None  # the ensemble's validation F1, which holds while it is the same
            if current is not None and same and (names, new_threshold) == (
                current.members, current.threshold
            ):  # fmt: skip
                setting_f1 = current.val_f1
            manifest.settings[spec.setting] = SettingEntry(
                members=names, threshold=new_threshold, val_f1=setting_f1
            )
        else:
            first = _DEFAULT_THRESHOLD if threshold is None else threshold
            manifest = ManifestModel(
                description=f"imported from {checkpoint.name}",
                settings={spec.setting: SettingEntry(members=[name], threshold=first)},
                members=[entry],
            )
        checked = ManifestModel.model_validate(manifest.model_dump())
        lineage = checked.training.get("lineage")
        if earlier is None and isinstance(lineage, dict):
            log.warning(
                "%s: derived by %s from %s, and this member is not the parent's: `python -m "
                "models lineage` refuses it from now on (the lineage no longer describes every "
                "member)",
                manifest_path, lineage.get("method", "finetune"), lineage.get("parent_manifest"),
            )  # fmt: skip
        if checked.object_filter is not None and checked.ensemble_id != ensemble_before:
            # found in a walkthrough: a filter fitted on the other members' candidates went on
            # scoring this ensemble's, as train, select and extend do not let it
            checked = checked.model_copy(update={"object_filter": None})
            log.warning(
                "%s: its object filter was fitted on the candidates of the members before this "
                "import, so the manifest no longer names it (its files stay beside it) and every "
                "candidate alerts until one is fitted on these members: python -m "
                "monitor.ops.filter_fit (docs/models.md)",
                manifest_path,
            )
    except ValidationError as err:
        staged.unlink()
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'manifest'}: {e['msg']}" for e in err.errors()
        )
        raise CheckpointError(
            f"{checkpoint}: not imported into {manifest_path}: {problems}"
        ) from None
    os.replace(staged, manifest_path.parent / file)
    if checked.model_dump() == before:
        return manifest_path
    return write_manifest(manifest_path, checked)
