"""Several dense heads averaged (``HeadEnsemble``): the same outputs as one head, averaged the documented way; and the
principal projection of the patch features they read (``PrincipalProjection``, ``ProjectedHead``)."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from logolens.models.detector import DetectorConfig, HeadEnsemble, LogoDetectorNet, PrincipalProjection, ProjectedHead, head_members

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


def anisotropic_grids(n: int = 6, channels: int = 12, seed: int = 2) -> torch.Tensor:
    """Grids whose channel ``c`` varies with standard deviation ``channels - c`` around a mean of 3."""
    generator = torch.Generator().manual_seed(seed)
    scales = torch.arange(channels, 0, -1, dtype=torch.float32)[None, :, None, None]
    return 3.0 + torch.randn(n, channels, 5, 5, generator=generator) * scales


def test_principal_projection_keeps_the_directions_of_largest_variance():
    grids = anisotropic_grids()
    projection = PrincipalProjection(12, 3).fit(grids)
    components = projection.components
    torch.testing.assert_close(components @ components.T, torch.eye(3), atol=1e-5, rtol=0)  # a rotation, not rescaled
    assert torch.equal(components.abs().argmax(dim=1), torch.tensor([0, 1, 2]))  # the three widest channels, widest first
    torch.testing.assert_close(projection.mean, grids.mean(dim=(0, 2, 3)), atol=0.5, rtol=0)
    projected = projection(grids)
    assert projected.shape == (6, 3, 5, 5)
    expected = torch.einsum("bchw,kc->bkhw", grids - projection.mean[None, :, None, None], components)
    torch.testing.assert_close(projected, expected, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(projection.project(grids.half(), chunk=4).float(), expected, atol=2e-2, rtol=1e-2)


def test_principal_projection_depends_on_the_grids_and_seed_only():
    grids = anisotropic_grids()
    first = PrincipalProjection(12, 4).fit(grids, max_positions=100, seed=1)
    again = PrincipalProjection(12, 4).fit(grids.contiguous(memory_format=torch.channels_last), max_positions=100, seed=1)
    other = PrincipalProjection(12, 4).fit(grids, max_positions=100, seed=2)
    torch.testing.assert_close(first.components, again.components)
    assert not torch.allclose(first.components, other.components)  # another draw of positions, another estimate


def test_a_projected_head_reads_the_projection_and_saves_it_with_its_weights():
    config = DetectorConfig(n_classes=2, image_size=28, width=8, depth=1, pretrained=False, heads=2, feature_dims=16)
    net = LogoDetectorNet(config)
    assert isinstance(net.head, ProjectedHead) and len(head_members(net.head)) == 2
    assert all(member.trunk[0].in_channels == 16 for member in head_members(net.head))
    assert {"head.projection.mean", "head.projection.components"} <= set(net.saved_state_dict())
    net.head.projection.fit(torch.randn(3, 768, 2, 2))
    with torch.no_grad():
        grid = torch.randn(1, 768, 2, 2)
        torch.testing.assert_close(net.head(grid)[0], net.head.head(net.head.projection(grid))[0])
    plain = LogoDetectorNet(replace(config, feature_dims=0))
    assert not isinstance(plain.head, ProjectedHead) and head_members(plain.head)[0].trunk[0].in_channels == 768
    with pytest.raises(ValueError, match="feature_dims must be in"):
        LogoDetectorNet(replace(config, feature_dims=769))
    with pytest.raises(ValueError, match="feature_dims must be >= 0"):
        DetectorConfig(feature_dims=-1)
