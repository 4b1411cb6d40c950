"""The zoo: every architecture of Ganerød et al. builds for every setting and keeps the grid."""

from __future__ import annotations

import pytest
import torch

from models.datasets import MODEL_SETTINGS, channels_of
from models.grid import GridConfig
from models.testing import TEST_ENCODER
from models.zoo import (
    ARCHITECTURES,
    COMPACT_DECODERS,
    LOSSES,
    MIN_SIDE,
    PAPER_ARCHITECTURES,
    Member,
    MemberSpec,
    build_loss,
    canonical_architecture,
    canonical_loss,
    state_mismatch,
)


def test_tables_hold_the_papers_grid() -> None:
    assert PAPER_ARCHITECTURES == (
        "Unet", "UnetPlusPlus", "MAnet", "Linknet", "FPN", "PSPNet", "PAN", "DeepLabV3",
        "DeepLabV3Plus",
    )  # fmt: skip
    assert set(PAPER_ARCHITECTURES) < set(ARCHITECTURES) == set(COMPACT_DECODERS)
    # a grid that names no architectures is the paper's, whatever else the table holds
    assert GridConfig().architectures == list(PAPER_ARCHITECTURES)
    assert canonical_architecture("upernet") == "UPerNet"
    assert set(LOSSES) == {"BCE", "Dice", "Focal", "Jaccard", "Lovasz"}
    assert canonical_architecture("Unet++") == "UnetPlusPlus"
    assert canonical_architecture("deeplabv3+") == "DeepLabV3Plus"
    assert canonical_loss("JaccardLoss") == "Jaccard"
    with pytest.raises(ValueError, match="unknown architecture 'SegFormer'"):
        canonical_architecture("SegFormer")
    with pytest.raises(ValueError, match="unknown loss"):
        canonical_loss("Hinge")


@pytest.mark.parametrize("architecture", list(ARCHITECTURES))
def test_every_architecture_builds_for_every_setting(architecture: str) -> None:
    side = max(128, MIN_SIDE.get(architecture, 32))
    for setting in MODEL_SETTINGS:
        n = len(channels_of(setting))
        spec = MemberSpec(architecture, TEST_ENCODER, "Dice", 0.01, setting, n,
                          dict(COMPACT_DECODERS[architecture]))  # fmt: skip
        member = Member(spec, [0.0] * n, [1.0] * n).eval()
        x = torch.randn(2, n, side, side)
        x[0, 0, :5, :5] = float("nan")
        with torch.no_grad():
            y = member(x)
        assert y.shape == (2, 1, side, side), (architecture, setting)
        assert torch.isfinite(y).all(), (architecture, setting)


@pytest.mark.parametrize("loss", list(LOSSES))
def test_losses_are_positive_and_smaller_for_the_truth(loss: str) -> None:
    fn = build_loss(loss)
    target = (torch.rand(2, 1, 32, 32) > 0.7).float()
    good = fn(target * 16 - 8, target)
    bad = fn(8 - target * 16, target)
    assert float(good) < float(bad)
    assert float(bad) > 0


def test_normalisation_length_must_match_channels() -> None:
    spec = MemberSpec("Unet", TEST_ENCODER, "BCE", 0.01, "S2", 2)
    with pytest.raises(ValueError, match="2 input channels"):
        Member(spec, [0.0] * 3, [1.0] * 3)


def test_a_state_that_does_not_fit_is_counted_by_kind() -> None:
    """Keys missing, keys the network lacks and tensors of another shape, each counted with
    its first names (load_state_dict's message lists every key)."""
    net = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Linear(3, 1))
    state = dict(net.state_dict())
    assert state_mismatch(net, state) == "the keys and shapes agree"
    del state["1.bias"]
    state["0.weight"] = torch.zeros(4, 2)
    state.update({f"extra.{i}": torch.zeros(1) for i in range(5)})
    assert state_mismatch(net, state, shown=2) == (
        "1 of the network's keys missing (1.bias); 5 keys the network does not have (extra.0, "
        "extra.1, and 3 more); 1 tensors of another shape (0.weight (4, 2) for (3, 2))"
    )


def test_a_setting_is_read_in_any_case_and_as_a_file_name_writes_it() -> None:
    """Found in a walkthrough: `--setting s1+s2` was refused, and `S1S2` (a member's file
    name) too, while architectures are read in any case."""
    from models.datasets import canonical_setting

    assert [canonical_setting(n) for n in ("s1+s2", "S1S2", "s2", "ALL", " S1 ", "l4s")] == [
        "S1+S2", "S1+S2", "S2", "all", "S1", "L4S",
    ]  # fmt: skip
    assert canonical_setting("S3") == "S3"  # refused where it is used, with the names known
