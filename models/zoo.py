"""The model zoo: the nine segmentation architectures and five losses of Ganerød et al.
(Tables 4 and 5) on segmentation-models-pytorch, picked from tables; the architecture table
also holds UPerNet, which a grid may name (its default is the paper's nine).

Adding an architecture is adding a row to :data:`ARCHITECTURES` and its narrow decoder to
:data:`COMPACT_DECODERS` (and to :data:`MIN_SIDE` if it needs inputs larger than 32 px);
``tests/models/test_models_zoo.py`` builds it for every setting and
``tests/models/test_models_onnx_engine.py`` checks its ONNX export against torch.

A member of the ensemble is described by a :class:`MemberSpec` (architecture, encoder, the
architecture's constructor arguments, loss, learning rate, setting); :func:`build_network`
turns it into an ``nn.Module`` with random weights (never a pretrained download) and
:class:`Member` wraps that network with the per-band normalisation it was trained with, so a
member maps raw feature-stack channels (NaN allowed) to logits.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

from models._torch_compat import ensure_torchvision_importable
from models.datasets import IGNORE

ensure_torchvision_importable()

import segmentation_models_pytorch as smp  # noqa: E402

__all__ = [
    "ARCHITECTURES",
    "COMPACT_DECODERS",
    "LEARNING_RATES",
    "LOSSES",
    "MIN_SIDE",
    "PAPER_ARCHITECTURES",
    "SIDE_MULTIPLE",
    "IgnoringLoss",
    "Member",
    "MemberSpec",
    "build_loss",
    "build_network",
    "canonical_architecture",
    "canonical_loss",
    "check_schedule",
    "nonfinite_weights",
    "state_mismatch",
    "without_suffix",
]

# The smp architectures a member may have: the nine of Table 4 of Ganerød et al.
# (PAPER_ARCHITECTURES, a grid's default), then others.
ARCHITECTURES: Mapping[str, type[nn.Module]] = {
    "Unet": smp.Unet,
    "UnetPlusPlus": smp.UnetPlusPlus,
    "MAnet": smp.MAnet,
    "Linknet": smp.Linknet,
    "FPN": smp.FPN,
    "PSPNet": smp.PSPNet,
    "PAN": smp.PAN,
    "DeepLabV3": smp.DeepLabV3,
    "DeepLabV3Plus": smp.DeepLabV3Plus,
    # unified perceptual parsing (Xiao et al. 2018): a pyramid-pooling module on the deepest
    # features and an FPN over the rest; the usual head of remote-sensing foundation models
    "UPerNet": smp.UPerNet,
}
# Table 4 by name: a row added to the table above never joins the paper's grid by its place
PAPER_ARCHITECTURES: tuple[str, ...] = (
    "Unet",
    "UnetPlusPlus",
    "MAnet",
    "Linknet",
    "FPN",
    "PSPNet",
    "PAN",
    "DeepLabV3",
    "DeepLabV3Plus",
)

# Table 5: the five smp losses, all in binary mode on logits.
LOSSES: Mapping[str, Callable[[], nn.Module]] = {
    "BCE": lambda: smp.losses.SoftBCEWithLogitsLoss(),
    "Dice": lambda: smp.losses.DiceLoss(smp.losses.BINARY_MODE, from_logits=True),
    "Focal": lambda: smp.losses.FocalLoss(smp.losses.BINARY_MODE),
    "Jaccard": lambda: smp.losses.JaccardLoss(smp.losses.BINARY_MODE, from_logits=True),
    "Lovasz": lambda: smp.losses.LovaszLoss(smp.losses.BINARY_MODE),
}

LEARNING_RATES: tuple[float, ...] = (0.01, 0.001)

# Narrow decoders for small CPU members (the shipped default). smp's own defaults are the
# empty dict; a MemberSpec records whatever arguments were used, so either kind loads back.
COMPACT_DECODERS: Mapping[str, Mapping[str, Any]] = {
    "Unet": {"encoder_depth": 4, "decoder_channels": [32, 16, 8, 8]},
    "UnetPlusPlus": {"encoder_depth": 4, "decoder_channels": [32, 16, 8, 8]},
    "MAnet": {"encoder_depth": 4, "decoder_channels": [32, 16, 8, 8], "decoder_pab_channels": 16},
    "Linknet": {"encoder_depth": 4},
    "FPN": {
        "encoder_depth": 4,
        "decoder_pyramid_channels": 32,
        "decoder_segmentation_channels": 32,
        "upsampling": 2,  # the depth-4 pyramid ends at 1/2 resolution
    },
    "PSPNet": {"encoder_depth": 3, "psp_out_channels": 32},
    "PAN": {"decoder_channels": 16},
    "DeepLabV3": {"encoder_depth": 4, "decoder_channels": 32},
    "DeepLabV3Plus": {"encoder_depth": 4, "decoder_channels": 32},
    "UPerNet": {"encoder_depth": 4, "decoder_channels": 32},
}

# Smallest input side an architecture accepts (PAN's feature pyramid attention pools the
# 1/16 features three more times). Everything else takes any multiple of 32.
MIN_SIDE: Mapping[str, int] = {"PAN": 128}
SIDE_MULTIPLE = 32


def check_schedule(
    config: object, *, sides: Sequence[str], counts: Sequence[str], threshold: str
) -> None:
    """Refuse a training or fine-tuning schedule (``config``'s attributes) no member can run:
    a crop or tile side (``sides``) that is not a positive multiple of :data:`SIDE_MULTIPLE`
    (a crop of 63 trained at another side without a word), a count (``counts``: steps,
    epochs, batch, threads; None allowed) below 1, a ``threshold`` outside (0, 1)."""
    for name in sides:
        side = getattr(config, name)
        if side < SIDE_MULTIPLE or side % SIDE_MULTIPLE:
            raise ValueError(
                f"{name} must be a positive multiple of {SIDE_MULTIPLE}, got {side}: the "
                "members' networks take no other side"
            )
    for name in counts:
        value = getattr(config, name)
        if value is not None and value < 1:
            raise ValueError(f"{name} must be at least 1, got {value}")
    value = getattr(config, threshold)
    if not 0.0 < value < 1.0:
        raise ValueError(f"{threshold} must lie in (0, 1), got {value}")


# Spellings used by the published code and papers, mapped onto the table keys.
_ARCHITECTURE_ALIASES: Mapping[str, str] = {
    "unet++": "UnetPlusPlus",
    "unetplusplus": "UnetPlusPlus",
    "deeplabv3+": "DeepLabV3Plus",
    "deeplabv3plus": "DeepLabV3Plus",
    "ma-net": "MAnet",
    "psp-net": "PSPNet",
    **{name.lower(): name for name in ARCHITECTURES},
}
_LOSS_ALIASES: Mapping[str, str] = {
    **{name.lower(): name for name in LOSSES},
    **{f"{name.lower()}loss": name for name in LOSSES},
    "bcewithlogits": "BCE",
    "bcewithlogitsloss": "BCE",
    "softbcewithlogitsloss": "BCE",
    "jacckard": "Jaccard",
    "lovász": "Lovasz",
}


def canonical_architecture(name: str) -> str:
    """The :data:`ARCHITECTURES` key for ``name`` (accepts "Unet++", "DeepLabV3+", ...)."""
    try:
        return _ARCHITECTURE_ALIASES[name.strip().lower()]
    except KeyError:
        raise ValueError(
            f"unknown architecture {name!r}; known: {', '.join(ARCHITECTURES)}"
        ) from None


def canonical_loss(name: str) -> str:
    """The :data:`LOSSES` key for ``name`` (accepts "DiceLoss", "BCELoss", ...)."""
    try:
        return _LOSS_ALIASES[name.strip().lower()]
    except KeyError:
        raise ValueError(f"unknown loss {name!r}; known: {', '.join(LOSSES)}") from None


def without_suffix(bands: Sequence[str]) -> str:
    """What a member's name adds for the bands it is not shown (``-without-<band>`` each): the
    name less it is its grid cell (:attr:`MemberSpec.cell`)."""
    return "".join(f"-without-{band}" for band in bands)


def nonfinite_weights(state: Mapping[str, Any], *, shown: int = 3) -> str | None:
    """Which tensors of ``state`` hold NaN or infinite values, counted, with the first ``shown``
    names (None: all finite). A network with one such weight gives NaN everywhere, and the
    ensemble's mean with it: every detection of its setting is lost without a word (found by
    an ML researcher's walk: an imported checkpoint of a diverged run)."""
    bad = [
        (name, int((~torch.isfinite(tensor)).sum()))
        for name, tensor in state.items()
        if isinstance(tensor, torch.Tensor) and tensor.is_floating_point()
        and not bool(torch.isfinite(tensor).all())
    ]  # fmt: skip
    if not bad:
        return None
    names = ", ".join(f"{name} ({n} value(s))" for name, n in bad[:shown])
    more = f" and {len(bad) - shown} more" if len(bad) > shown else ""
    return f"{len(bad)} weight tensor(s) hold NaN or infinite values: {names}{more}"


def state_mismatch(net: nn.Module, state: Mapping[str, Any], *, shown: int = 3) -> str:
    """How ``state`` fails to fit ``net``, counted: keys the network lacks, keys it has that
    ``state`` lacks, and tensors of another shape, each with its first ``shown`` names.
    ``load_state_dict``'s own message lists every key (22,400 characters for a Unet's weights
    given to a Linknet, found in a walkthrough)."""
    own = net.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [
        f"{k} {tuple(state[k].shape)} for {tuple(own[k].shape)}"
        for k in own
        if k in state and hasattr(state[k], "shape") and tuple(state[k].shape) != own[k].shape
    ]

    def listed(what: str, keys: list[str]) -> str:
        more = f", and {len(keys) - shown} more" if len(keys) > shown else ""
        return f"{len(keys)} {what} ({', '.join(keys[:shown])}{more})"

    parts = [
        listed(what, keys)
        for what, keys in (
            ("of the network's keys missing", missing),
            ("keys the network does not have", unexpected),
            ("tensors of another shape", shapes),
        )
        if keys
    ]
    return "; ".join(parts) or "the keys and shapes agree"


@dataclass(frozen=True)
class MemberSpec:
    """One cell of the training grid: what to build and how to train it."""

    architecture: str
    encoder: str
    loss: str
    learning_rate: float
    setting: str
    in_channels: int
    arch_kwargs: Mapping[str, Any] = field(default_factory=dict)
    # bands of the setting the member is not shown: fed as their training mean (0 after
    # standardisation) in training and prediction alike (docs/models.md, "Members without the
    # land cover")
    without_bands: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "architecture", canonical_architecture(self.architecture))
        object.__setattr__(self, "loss", canonical_loss(self.loss))
        object.__setattr__(self, "without_bands", tuple(self.without_bands))
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be positive, got {self.learning_rate}")
        if self.in_channels < 1:
            raise ValueError(f"in_channels must be at least 1, got {self.in_channels}")

    @property
    def cell(self) -> str:
        """The grid cell: the name without the bands withheld. Training seeds come from it, so
        that a member trained without a band starts from the weights and crops of the same
        cell trained with it (a paired comparison)."""
        setting = self.setting.replace("+", "")
        return f"{setting}-{self.architecture}-{self.loss}-lr{self.learning_rate:g}-{self.encoder}"

    @property
    def name(self) -> str:
        """A file-name-safe identifier, unique within a grid."""
        return self.cell + without_suffix(self.without_bands)

    def to_dict(self) -> dict[str, Any]:
        from models.datasets import written_without_bands

        out = asdict(self)
        out["arch_kwargs"] = dict(self.arch_kwargs)
        out["without_bands"] = list(self.without_bands)
        return written_without_bands(out)


def build_network(spec: MemberSpec) -> nn.Module:
    """The smp network of ``spec`` with random weights (one output channel of logits)."""
    cls = ARCHITECTURES[spec.architecture]
    kwargs = dict(spec.arch_kwargs)
    try:
        return cls(
            encoder_name=spec.encoder,
            encoder_weights=None,
            in_channels=spec.in_channels,
            classes=1,
            **kwargs,
        )
    except (TypeError, ValueError, KeyError, AssertionError, RuntimeError) as err:
        raise ValueError(
            f"cannot build {spec.architecture} with encoder {spec.encoder!r} and "
            f"arguments {kwargs}: {err}"
        ) from err


class IgnoringLoss(nn.Module):
    """One of :data:`LOSSES` over the pixels whose target is not :data:`~models.datasets.IGNORE`.

    The known pixels of the whole batch are gathered into one ``(1, 1, N, 1)`` image before the
    loss sees them. The five losses in binary mode pool their sums over the batch and pixels
    (Dice, Jaccard, Lovász with ``per_image=False``) or average per pixel (BCE, Focal), so over
    known pixels they are exactly the loss of those pixels, and ignored ones get no gradient.
    (smp's own ``ignore_index`` is not used: in binary mode it leaves BCE and Lovász gradients
    on ignored pixels and makes Focal infinite.) A batch without ignored pixels goes to the loss
    unchanged."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        known = target != IGNORE
        if bool(known.all()):
            out: torch.Tensor = self.inner(logits, target)
            return out
        if not bool(known.any()):
            return logits.sum() * 0.0  # nothing known: no loss, no gradient
        x = logits[known].view(1, 1, -1, 1)
        y = target[known].view(1, 1, -1, 1)
        out = self.inner(x, y)
        return out


def build_loss(name: str) -> nn.Module:
    """The loss ``name`` of :data:`LOSSES`, skipping ignored pixels (:class:`IgnoringLoss`)."""
    return IgnoringLoss(LOSSES[canonical_loss(name)]())


def _band_positions(spec: MemberSpec) -> list[int]:
    """The channel positions of ``spec.without_bands`` among its setting's bands."""
    if not spec.without_bands:
        return []
    from models.datasets import setting_band_names, withheld_positions

    names = setting_band_names(spec.setting)  # DatasetError (a ValueError) names the setting
    if len(names) != spec.in_channels:
        raise ValueError(
            f"member {spec.name}: setting {spec.setting!r} has {len(names)} bands, the member "
            f"{spec.in_channels} input channels"
        )
    try:
        return withheld_positions(names, spec.without_bands)
    except ValueError as err:
        raise ValueError(f"member {spec.name} (setting {spec.setting}): {err}") from None


class Member(nn.Module):
    """A network plus the per-band normalisation it was trained with.

    ``forward`` takes raw channels ``(B, C, H, W)`` in the setting's band order, NaN where
    invalid, standardises them with the stored mean/std, replaces NaN by 0 (the band mean) and
    returns logits ``(B, 1, H, W)``. The statistics are buffers, so they travel in the weights
    file and are covered by its checksum. The bands of ``spec.without_bands`` are set to 0 (the
    band mean) after standardisation, whatever they hold: the member never sees them."""

    net: nn.Module
    norm_mean: torch.Tensor  # (1, C, 1, 1) buffer
    norm_std: torch.Tensor  # (1, C, 1, 1) buffer
    band_keep: torch.Tensor  # (1, C, 1, 1) non-persistent buffer: 0 for without_bands, else 1

    def __init__(self, spec: MemberSpec, mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__()
        if len(mean) != spec.in_channels or len(std) != spec.in_channels:
            raise ValueError(
                f"member {spec.name}: normalisation has {len(mean)} means and {len(std)} stds "
                f"for {spec.in_channels} input channels"
            )
        self.spec = spec
        self.net = build_network(spec)
        self.register_buffer("norm_mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        std_t = torch.tensor(std, dtype=torch.float32).clamp_min(1e-6)
        self.register_buffer("norm_std", std_t.view(1, -1, 1, 1))
        keep = torch.ones(spec.in_channels, dtype=torch.float32)
        for i in _band_positions(spec):
            keep[i] = 0.0
        # derived from the spec (and so from the manifest), not stored in the weights file
        self.register_buffer("band_keep", keep.view(1, -1, 1, 1), persistent=False)

    @property
    def min_side(self) -> int:
        """Smallest input side (pixels) the network accepts."""
        return MIN_SIDE.get(self.spec.architecture, SIDE_MULTIPLE)

    def normalise(self, x: torch.Tensor) -> torch.Tensor:
        z = (x - self.norm_mean.to(x.dtype)) / self.norm_std.to(x.dtype)
        z = torch.nan_to_num(z, nan=0.0, posinf=0.0, neginf=0.0)
        if self.spec.without_bands:
            z = z * self.band_keep.to(z.dtype)
        return z

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits: torch.Tensor = self.net(self.normalise(x))
        return logits
