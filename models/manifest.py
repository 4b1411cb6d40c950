"""The ensemble manifest: a JSON file listing every member (architecture, encoder, loss,
learning rate, setting, validation F1, normalisation, weights file and its SHA-256) and, per
setting, the selected members and the calibrated decision threshold.

Weights are safetensors files next to the manifest. Loading verifies each file's SHA-256 before
reading it and never unpickles anything.
"""

from __future__ import annotations

import hashlib
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    ValidationError,
    model_serializer,
    model_validator,
)

from models.atomic import write_atomically

if TYPE_CHECKING:  # torch is imported by the functions that need it, not on import
    from models.zoo import Member

__all__ = [
    "BUNDLED",
    "DEFAULT_MANIFEST",
    "FORMAT",
    "ManifestError",
    "ManifestModel",
    "MemberEntry",
    "Normalisation",
    "ObjectFilterEntry",
    "SettingEntry",
    "copy_manifest",
    "load_member",
    "manifest_arg",
    "manifest_files",
    "member_entry",
    "normalisation_matches",
    "read_manifest",
    "save_member_weights",
    "sha256_file",
    "verified_file",
    "write_manifest",
]

#: The bundled ensemble (models/default), the default of ``model.manifest``.
DEFAULT_MANIFEST: Final = Path(__file__).resolve().parent / "default" / "manifest.json"

FORMAT: Final = "landslide-ensemble/1"

#: What a command line may write for :data:`DEFAULT_MANIFEST` (``python -m models info
#: default``): in an installed package its path is deep in site-packages.
BUNDLED: Final = "default"


def manifest_arg(text: str) -> Path:
    """An argparse type: a manifest's path, or :data:`BUNDLED` for the bundled ensemble (a file
    or folder named ``default`` is written ``./default``)."""
    return DEFAULT_MANIFEST if text == BUNDLED else Path(text)


class ManifestError(ValueError):
    """A manifest or weights file that cannot be trusted or used (names the file)."""


class Normalisation(BaseModel):
    model_config = ConfigDict(extra="forbid")
    mean: list[float]
    std: list[float]


class MemberEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    setting: str
    bands: list[str]
    architecture: str
    encoder: str
    arch_kwargs: dict[str, Any] = Field(default_factory=dict)
    loss: str
    learning_rate: float
    # an F1 score: one out of [0, 1] was ranked first as the best single member, a NaN written
    # as JSON that other readers refuse
    val_f1: float | None = Field(default=None, ge=0.0, le=1.0, allow_inf_nan=False)
    normalisation: Normalisation
    file: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    origin: str = "trained"  # "trained", "imported:<checkpoint name>", "untrained test fixture"
    epochs: int | None = None
    # bands the member is not shown (models.zoo.MemberSpec.without_bands); absent: none
    without_bands: list[str] = Field(default_factory=list)

    @model_serializer(mode="wrap")
    def _written(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """A member that is shown every band is written as before the field existed."""
        from models.datasets import written_without_bands

        return written_without_bands(handler(self))

    @model_validator(mode="after")
    def _lengths(self) -> MemberEntry:
        n = len(self.bands)
        if len(self.normalisation.mean) != n or len(self.normalisation.std) != n:
            raise ValueError(f"member {self.name}: normalisation length differs from bands ({n})")
        from models.datasets import withheld_positions

        try:
            withheld_positions(self.bands, self.without_bands)
        except ValueError as err:
            raise ValueError(f"member {self.name}: {err}") from None
        return self

    @model_validator(mode="after")
    def _setting_bands(self) -> MemberEntry:
        """The ensemble feeds a member its setting's bands in that order (``model_input``);
        ``bands`` must say so. A setting the models do not know is left to the prediction."""
        from models.datasets import MODEL_SETTINGS, setting_band_names

        if self.setting in MODEL_SETTINGS:
            expected = list(setting_band_names(self.setting))
            if self.bands != expected:
                raise ValueError(
                    f"member {self.name}: bands {', '.join(self.bands)} are not those of its "
                    f"setting {self.setting!r} ({', '.join(expected)}, in that order), which the "
                    "ensemble feeds it"
                )
        return self


class SettingEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    members: list[str] = Field(min_length=1)
    threshold: float = Field(ge=0.0, le=1.0)
    val_f1: float | None = None  # of the ensemble at the threshold, on the validation set


class ObjectFilterEntry(BaseModel):
    """The object-level filter shipped with the ensemble (``monitor.pipeline.object_filter``):
    an ONNX classifier over ``features`` (in that order), the ``cut`` below which a candidate
    is suppressed (calibrated on validation scenes), the file's SHA-256, what it was fitted
    and calibrated on (``fit``: folders, counts, scores) and, optionally, the table of its
    training candidates (``candidates``) with its SHA-256."""

    model_config = ConfigDict(extra="forbid")
    file: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    features: list[str] = Field(min_length=1)
    cut: float = Field(ge=0.0, le=1.0)
    fit: dict[str, Any] = Field(default_factory=dict)
    # the candidates it was fitted on (features and class, ``.npz``) and their SHA-256: what a
    # refit on an operator's reviews (``monitor.ops.filter_refit``) adds the reviewed ones to
    candidates: str | None = None
    candidates_sha256: str | None = Field(None, pattern=r"^[0-9a-f]{64}$")

    @model_validator(mode="after")
    def _table_and_checksum(self) -> ObjectFilterEntry:
        if (self.candidates is None) != (self.candidates_sha256 is None):
            raise ValueError("object_filter: candidates and candidates_sha256 go together")
        return self


class ManifestModel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    format: Literal["landslide-ensemble/1"] = FORMAT
    created: str = Field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    description: str = ""
    settings: dict[str, SettingEntry]
    members: list[MemberEntry]
    training: dict[str, Any] = Field(default_factory=dict)
    object_filter: ObjectFilterEntry | None = None

    @model_validator(mode="after")
    def _references(self) -> ManifestModel:
        names = [m.name for m in self.members]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"member names are not unique: {', '.join(map(repr, repeated))}")
        by_name = {m.name: m for m in self.members}
        for setting, entry in self.settings.items():
            for name in entry.members:
                if name not in by_name:
                    raise ValueError(f"setting {setting!r} lists unknown member {name!r}")
                if by_name[name].setting != setting:
                    raise ValueError(
                        f"setting {setting!r} lists member {name!r} of setting "
                        f"{by_name[name].setting!r}"
                    )
        return self

    @property
    def member_settings(self) -> tuple[str, ...]:
        """The settings that have members (what ``model.setting`` may name)."""
        return tuple(s for s, e in self.settings.items() if e.members)

    @property
    def ensemble_id(self) -> str:
        """Names what the ensemble computes (16 hex digits): its members' weights (SHA-256) and
        each setting's members (K of them) and threshold; not their order, the validation F1,
        the object filter, the description or the record. A copy of a manifest, one whose
        filter alone was refitted, or a fine-tuning that kept every member's weights, K and
        threshold keeps it."""
        what = {
            # a withheld band is not in the weights file: it counts where there is one
            "members": sorted(
                (m.name, m.sha256, *([m.without_bands] if m.without_bands else []))
                for m in self.members
            ),
            "settings": {
                k: {"members": sorted(v.members), "threshold": v.threshold}
                for k, v in sorted(self.settings.items())
            },
        }
        return hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()[:16]

    def member(self, name: str) -> MemberEntry:
        for m in self.members:
            if m.name == name:
                return m
        raise KeyError(name)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def verified_file(path: Path, sha256: str, what: str, remedy: str) -> Path:
    """``path`` once its SHA-256 is ``sha256``; a :class:`ManifestError` naming ``what`` and
    the file when it is missing or differs (``remedy`` says how to put it right)."""
    if not path.is_file():
        raise ManifestError(f"{what} {path} not found")
    digest = sha256_file(path)
    if digest != sha256:
        raise ManifestError(
            f"{what} {path} fails its SHA-256 check (manifest {sha256}, file {digest}); it was "
            f"modified or corrupted - refusing to load. {remedy}"
        )
    return path


def read_manifest(path: Path) -> ManifestModel:
    """The manifest at ``path``; a :class:`ManifestError` naming the file when it is missing, a
    folder, not JSON or not a model manifest (at most five of its problems listed)."""
    path = Path(path)
    if path.is_dir():
        inside = path / "manifest.json"
        hint = f": pass {inside}" if inside.is_file() else ", not a manifest file"
        raise ManifestError(f"{path} is a folder{hint}")
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        raise ManifestError(f"{path}: manifest not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ManifestError(f"{path}: not valid JSON: {err}") from err
    try:
        return ManifestModel.model_validate(raw)
    except ValidationError as err:
        problems = [
            f"{'.'.join(str(part) for part in e['loc']) or '(top level)'}: {e['msg']}"
            for e in err.errors()
        ]
        more = f"; and {len(problems) - 5} more" if len(problems) > 5 else ""
        raise ManifestError(
            f"{path}: not a model manifest ({len(problems)} problem(s)): "
            + "; ".join(problems[:5])
            + more
        ) from None


def manifest_files(manifest: ManifestModel) -> list[tuple[str, str, str]]:
    """Every file ``manifest`` checksums, as (what, file relative to the manifest, SHA-256): the
    members' weights, the object filter and its candidates table."""
    files = [("member weights", m.file, m.sha256) for m in manifest.members]
    f = manifest.object_filter
    if f is not None:
        files.append(("object filter", f.file, f.sha256))
        if f.candidates is not None and f.candidates_sha256 is not None:
            files.append(
                (
                    "object filter candidates, read by a refit only",
                    f.candidates,
                    f.candidates_sha256,
                )
            )
    return files


def write_manifest(path: Path, manifest: ManifestModel) -> Path:
    """Write atomically (:func:`models.atomic.write_atomically`: a temporary file, synced, then
    renamed): the files it names are written before it, so it is the switch to them."""
    text = json.dumps(manifest.model_dump(mode="json"), indent=2) + "\n"
    return write_atomically(path, lambda tmp: tmp.write_text(text))


def _umask() -> int:
    """The process's umask, read without changing it (``os.umask`` can only set it, and a
    thread creating a file meanwhile would get mode 0666)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)  # no /proc (macOS): set and restore at once
    os.umask(mask)
    return mask


def save_member_weights(member: Member, path: Path, metadata: dict[str, str] | None = None) -> str:
    """Save a :class:`models.zoo.Member`'s state (network + normalisation buffers) as
    safetensors; returns the file's SHA-256."""
    from safetensors.torch import save_file

    state = {k: v.detach().cpu().contiguous() for k, v in member.state_dict().items()}

    def write(tmp: Path) -> None:
        save_file(state, str(tmp), metadata=metadata or {})
        # as the manifest beside it (the umask's mode for a new file): safetensors writes 0600,
        # which a service running as another user (systemd, Docker) cannot read
        os.chmod(tmp, 0o666 & ~_umask())

    return sha256_file(write_atomically(path, write))


def load_member(entry: MemberEntry, base_dir: Path) -> Member:
    """Build the member of ``entry`` and load its weights after checking the SHA-256."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from models.zoo import Member, MemberSpec, nonfinite_weights, state_mismatch

    # an imported member's manifest is written by its import, not by select (found by an ML
    # researcher's walk: the advice named select, which has no grid folder for it)
    imported = entry.origin.startswith("imported:")
    remake = (
        f"import {entry.origin.removeprefix('imported:')} again with --replace"
        if imported
        else "write a new manifest for it (python -m models select)"
    )
    path = verified_file(
        Path(base_dir) / entry.file,
        entry.sha256,
        f"member {entry.name}: weights file",
        f"Restore the original file, or, if the change is intended, {remake}",
    )
    spec = MemberSpec(
        architecture=entry.architecture,
        encoder=entry.encoder,
        loss=entry.loss,
        learning_rate=entry.learning_rate,
        setting=entry.setting,
        in_channels=len(entry.bands),
        arch_kwargs=entry.arch_kwargs,
        without_bands=tuple(entry.without_bands),
    )
    try:
        member = Member(spec, entry.normalisation.mean, entry.normalisation.std)
    except ValueError as err:  # found in a walk: a hand-edited architecture named no member
        raise ManifestError(
            f"member {entry.name}: {err} (its architecture, encoder and arch_kwargs in the "
            "manifest are not those its weights were trained with: restore them)"
        ) from err
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError) as err:
        raise ManifestError(f"member {entry.name}: cannot read {path}: {err}") from err
    if (bad := nonfinite_weights(state)) is not None:  # a diverged training's, checksum and all
        raise ManifestError(f"member {entry.name}: {path}: {bad}; it would predict nothing")
    try:
        member.load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise ManifestError(
            f"member {entry.name}: {path} does not match {entry.architecture}/{entry.encoder}: "
            f"{state_mismatch(member, state)}"
        ) from err
    stored = (member.norm_mean.flatten().tolist(), member.norm_std.flatten().tolist())
    if not _same_normalisation(stored, entry):
        raise ManifestError(
            f"member {entry.name}: normalisation in {path} differs from the manifest's"
        )
    return member.eval()


def _same_normalisation(stored: tuple[list[float], list[float]], entry: MemberEntry) -> bool:
    """Whether the mean and std saved in a member's weights are ``entry``'s (to 1e-4)."""
    listed = (entry.normalisation.mean, entry.normalisation.std)
    return all(
        len(got) == len(want)
        and all(abs(a - b) <= 1e-4 * max(1.0, abs(b)) for a, b in zip(got, want, strict=True))
        for got, want in zip(stored, listed, strict=True)
    )


def normalisation_matches(entry: MemberEntry, path: Path) -> bool:
    """Whether the weights file ``path`` holds ``entry``'s normalisation, as :func:`load_member`
    checks it after the SHA-256 (which covers the file, not the manifest's copy of the mean and
    std: an edited one passes it); read without torch. A :class:`ManifestError` naming the file
    when it cannot be read."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="numpy") as f:
            mean, std = (f.get_tensor(k).ravel().tolist() for k in ("norm_mean", "norm_std"))
    except (SafetensorError, OSError) as err:
        raise ManifestError(f"member {entry.name}: cannot read {path}: {err}") from err
    return _same_normalisation((mean, std), entry)


def member_entry(
    member: Member,
    file: str,
    sha256: str,
    *,
    val_f1: float | None = None,
    origin: str = "trained",
    epochs: int | None = None,
) -> MemberEntry:
    """The manifest entry of a :class:`models.zoo.Member` saved as ``file``."""
    from models.datasets import setting_band_names

    spec = member.spec
    return MemberEntry(
        name=spec.name,
        setting=spec.setting,
        bands=list(setting_band_names(spec.setting)),
        architecture=spec.architecture,
        encoder=spec.encoder,
        arch_kwargs=dict(spec.arch_kwargs),
        loss=spec.loss,
        learning_rate=spec.learning_rate,
        val_f1=val_f1,
        normalisation=Normalisation(
            mean=member.norm_mean.flatten().tolist(), std=member.norm_std.flatten().tolist()
        ),
        file=file,
        sha256=sha256,
        origin=origin,
        epochs=epochs,
        without_bands=list(spec.without_bands),
    )


def copy_manifest(source: Path, folder: Path) -> Path:
    """Copy the manifest at ``source`` and every file it checksums (:func:`manifest_files`,
    each checked on the way) into the new folder ``folder``; returns the copy's manifest path.

    What refits and edits a manifest in place (``monitor.ops.filter_refit``) works on such a
    copy, never on the bundled ensemble. :class:`ManifestError` where ``folder`` exists (a
    ``cp -r`` into an existing folder copies into it, found in a walkthrough), a file is
    missing or differs from its checksum, or one lies outside the manifest's folder; nothing
    is left of a copy that failed."""
    import shutil

    source, folder = Path(source), Path(folder)
    manifest = read_manifest(source)
    if folder.exists() or folder.is_symlink():
        raise ManifestError(f"{folder} exists: give a folder that does not exist yet")
    base = source.parent.resolve()
    files = []
    for what, file, sha256 in manifest_files(manifest):
        path = (base / file).resolve()
        if not path.is_relative_to(base):
            raise ManifestError(f"{source}: {what} {file} lies outside the manifest's folder")
        if not path.is_file():
            raise ManifestError(f"{source}: {what} {file} is missing")
        if sha256_file(path) != sha256:
            raise ManifestError(f"{source}: {what} {file} differs from its SHA-256 in the manifest")
        files.append(path.relative_to(base))
    work = folder.with_name(f".{folder.name}.copying")
    shutil.rmtree(work, ignore_errors=True)  # a copy killed before: never half of one
    try:
        work.mkdir(parents=True)
        for name in files:
            (work / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(base / name, work / name)
        shutil.copy2(source, work / "manifest.json")
        work.rename(folder)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return folder / "manifest.json"
