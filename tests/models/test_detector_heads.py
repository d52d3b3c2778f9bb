"""Several dense heads averaged (``HeadEnsemble``): the same outputs as one head, averaged the documented way."""

from __future__ import annotations

import pytest
import torch

from logolens.models.detector import DetectorConfig, HeadEnsemble, LogoDetectorNet, head_members

CHANNELS, GRID = 8, 4


def ensemble(heads: int) -> HeadEnsemble:
    torch.manual_seed(0)
    heads_module = HeadEnsemble(CHANNELS, DetectorConfig(n_classes=3, image_size=GRID * 14, width=16, depth=1, pretrained=False, heads=heads))
    with torch.no_grad():
        for parameter in heads_module.parameters():  # away from the initial zeros, so every output depends on the member
            parameter.add_(torch.randn_like(parameter) * 0.3)
    return heads_module.eval()


def grid() -> torch.Tensor:
    return torch.randn(2, CHANNELS, GRID, GRID, generator=torch.Generator().manual_seed(1))


def test_an_ensemble_of_identical_heads_says_what_one_head_says():
    heads = ensemble(3)
    for member in heads.members[1:]:
        member.load_state_dict(heads.members[0].state_dict())
    with torch.no_grad():
        (heat, ltrb, logits), (heat1, ltrb1, logits1) = heads(grid()), heads.members[0](grid())
    torch.testing.assert_close(heat, heat1, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(ltrb, ltrb1)
    torch.testing.assert_close(torch.softmax(logits, 1), torch.softmax(logits1, 1))


def test_an_ensemble_averages_probabilities_and_log_distances():
    heads = ensemble(2)
    with torch.no_grad():
        heat, ltrb, logits = heads(grid())
        (heat_a, ltrb_a, logits_a), (heat_b, ltrb_b, logits_b) = (member(grid()) for member in heads.members)
    assert not torch.allclose(heat_a, heat_b)  # the members differ, so the test can fail
    torch.testing.assert_close(torch.sigmoid(heat), (torch.sigmoid(heat_a) + torch.sigmoid(heat_b)) / 2)
    torch.testing.assert_close(ltrb, torch.sqrt(ltrb_a * ltrb_b))
    torch.testing.assert_close(torch.softmax(logits, 1), (torch.softmax(logits_a, 1) + torch.softmax(logits_b, 1)) / 2)


def test_one_head_keeps_the_weight_names_of_older_folders():
    def keys(heads: int) -> set[str]:
        net = LogoDetectorNet(DetectorConfig(n_classes=2, image_size=28, width=8, depth=1, pretrained=False, heads=heads))
        assert len(head_members(net.head)) == heads
        return set(net.saved_state_dict())

    single, pair = keys(1), keys(2)
    assert "head.trunk.0.weight" in single and not any("members" in key for key in single)
    assert {"head.members.0.trunk.0.weight", "head.members.1.trunk.0.weight"} <= pair
    with pytest.raises(ValueError, match="at least one head"):
        DetectorConfig(heads=0)
