"""metrics_common: analytic cases and degenerate inputs (DESIGN.md, metrics_common.py)."""

import math

import pytest
import torch

from metrics_common import (
    action_collapse_metrics,
    dead_units,
    excess_ratio,
    grad_norm,
    mean_norm,
    nonzero_correlation,
    rank_metrics,
    zero_fraction,
)
from ppo_etf_classic import simplex_etf

RANK_KEYS = {"effective_rank", "approx_rank", "srank", "feature_rank", "pytorch_rank", "numerical_rank"}


def test_ranks_of_identity_are_full():
    ranks = rank_metrics(torch.eye(16))
    assert set(ranks) == RANK_KEYS
    for key in ("approx_rank", "srank", "feature_rank", "pytorch_rank"):
        assert ranks[key] == 16
    assert ranks["effective_rank"] == pytest.approx(16, rel=1e-5)
    assert ranks["numerical_rank"] == pytest.approx(16, rel=1e-5)


def test_ranks_of_low_rank_matrix():
    torch.manual_seed(0)
    phi = torch.randn(256, 3) @ torch.randn(3, 32)
    ranks = rank_metrics(phi)
    assert ranks["pytorch_rank"] == 3
    assert ranks["feature_rank"] == 3
    assert ranks["approx_rank"] <= 3 and ranks["srank"] <= 3
    assert 1 <= ranks["effective_rank"] <= 3 + 1e-4
    assert 1 <= ranks["numerical_rank"] <= 3 + 1e-4


def test_rank_formulas_on_known_spectrum():
    # singular values 4, 2, 1, 1 (a diagonal matrix): every formula by hand
    phi = torch.diag(torch.tensor([4.0, 2.0, 1.0, 1.0]))
    ranks = rank_metrics(phi, delta=0.01)
    p = torch.tensor([4.0, 2.0, 1.0, 1.0]) / 8
    assert ranks["effective_rank"] == pytest.approx(math.exp(-(p * p.log()).sum().item()), rel=1e-5)
    assert ranks["numerical_rank"] == pytest.approx(64 / 22, rel=1e-5)
    assert ranks["approx_rank"] == 4  # 16/22, 20/22, 21/22 are all below 99%
    assert ranks["feature_rank"] == 4  # sigma / sqrt(4) = 2, 1, 0.5, 0.5 > 0.01
    assert rank_metrics(phi, delta=0.1)["srank"] == 4  # 7/8 < 0.9, 8/8 > 0.9
    assert rank_metrics(phi, delta=0.2)["srank"] == 3  # 7/8 > 0.8


def test_feature_rank_scales_with_sample_count():
    # Lyle et al.: sigma / sqrt(N) > delta, so a tiny direction does not count
    phi = torch.zeros(100, 2)
    phi[:, 0] = 1.0
    phi[0, 1] = 0.05  # sigma_2 = 0.05, / sqrt(100) = 0.005 < 0.01
    assert rank_metrics(phi)["feature_rank"] == 1
    assert rank_metrics(phi)["pytorch_rank"] == 2


@pytest.mark.parametrize("shape", [(0, 8), (1, 8), (8, 1), (64, 16)])
def test_ranks_of_degenerate_inputs_are_defined(shape):
    for phi in (torch.zeros(shape), torch.ones(shape)):
        ranks = rank_metrics(phi)
        assert all(math.isfinite(v) for v in ranks.values())
    assert all(v == 0 for v in rank_metrics(torch.zeros(64, 16)).values())
    if shape[0]:
        assert rank_metrics(torch.ones(shape))["pytorch_rank"] == 1


def test_dead_units_relu_and_tanh():
    h = torch.rand(32, 6) + 0.1
    h[:, 1] = 0.0
    h[:, 4] = 0.0
    h[0, 4] = 0.3  # alive: non-zero for one sample
    assert dead_units(h, "relu") == 1
    t = torch.tanh(torch.randn(32, 5))
    t[:, 2] = 0.7  # constant: std 0 < 1e-3
    t[:, 3] = 0.2 + 1e-5 * torch.randn(32)
    assert dead_units(t, "tanh") == 2
    assert dead_units(torch.randn(1, 5), "tanh") == 0
    with pytest.raises(ValueError):
        dead_units(h, "gelu")


def test_zero_fraction():
    h = torch.tensor([[0.0, 1.0], [0.0, 0.0]])
    assert zero_fraction(h) == 0.75
    assert zero_fraction(torch.zeros(0, 3)) == 0.0


def test_nonzero_correlation_collapsed_and_independent():
    point = torch.rand(1, 50) + 0.1
    collapsed = point.repeat(20, 1) * torch.linspace(1, 2, 20)[:, None]  # same direction, other scale
    collapsed[:, :10] = 0.0  # dead units are ignored
    assert nonzero_correlation(collapsed) == pytest.approx(1.0, abs=1e-5)
    torch.manual_seed(0)
    independent = torch.relu(torch.randn(200, 400))
    assert abs(nonzero_correlation(independent)) < 0.05
    assert nonzero_correlation(torch.zeros(10, 8)) == 0.0
    assert nonzero_correlation(torch.ones(1, 8)) == 0.0
    assert nonzero_correlation(torch.ones(10, 8)) == 0.0  # constant rows have no correlation


def test_mean_norm():
    x = torch.tensor([[3.0, 4.0], [0.0, 1.0]])
    assert mean_norm(x) == pytest.approx(3.0)
    assert mean_norm(torch.zeros(0, 2)) == 0.0


@pytest.mark.parametrize("k,d", [(2, 8), (4, 16), (6, 64)])
def test_perfect_collapse_on_etf_gives_zero(k, d):
    torch.manual_seed(k)
    w = simplex_etf(d, k)
    labels = torch.arange(k).repeat(10)  # balanced classes
    features = 3.0 * w.T[labels] + 0.5  # every feature on its action's vertex, plus a common offset
    nc = action_collapse_metrics(features, labels, w)
    assert nc["nc1"] == pytest.approx(0.0, abs=1e-6)
    assert nc["equiangularity"] == pytest.approx(0.0, abs=1e-5)
    assert nc["equinorm_means"] == pytest.approx(0.0, abs=1e-5)
    assert nc["equinorm_weights"] == pytest.approx(0.0, abs=1e-5)
    assert nc["self_duality"] == pytest.approx(0.0, abs=1e-5)


def test_unbalanced_or_noisy_classes_move_off_the_etf():
    torch.manual_seed(0)
    w = simplex_etf(16, 4)
    labels = torch.tensor([0] * 30 + [1] * 10 + [2] * 5 + [3] * 5)
    noisy = w.T[labels] + 0.3 * torch.randn(50, 16)
    nc = action_collapse_metrics(noisy, labels, w)
    assert nc["nc1"] > 0.01
    assert nc["equiangularity"] > 0.01  # global-mean centring shifts unbalanced class means


def test_action_collapse_skips_empty_classes_and_single_class():
    w = simplex_etf(8, 4)
    labels = torch.tensor([0, 0, 2, 2])  # actions 1 and 3 never chosen
    features = w.T[labels]
    nc = action_collapse_metrics(features, labels, w)
    assert nc and all(math.isfinite(v) for v in nc.values())
    assert nc["nc1"] == pytest.approx(0.0, abs=1e-6)
    assert action_collapse_metrics(features, torch.zeros(4, dtype=torch.long), w) == {}
    zeros = action_collapse_metrics(torch.zeros(4, 8), labels, w)
    assert all(math.isfinite(v) for v in zeros.values())


def test_excess_ratio():
    ratio = torch.tensor([1.5, 1.3, 1.0, 0.5, 0.7, 0.95])
    # above 1.2: 1.5, 1.3 (mean 1.4); below 0.8: 0.5, 0.7 (mean 0.6)
    assert excess_ratio(ratio, 0.2) == pytest.approx(1.4 / 0.6)
    assert excess_ratio(torch.ones(8), 0.2) is None
    assert excess_ratio(torch.tensor([2.0, 1.0]), 0.2) is None


def test_grad_norm():
    layer = torch.nn.Linear(3, 2)
    assert grad_norm(layer) == 0.0
    layer.weight.grad = torch.full((2, 3), 1.0)
    layer.bias.grad = torch.tensor([3.0, 3.0])
    assert grad_norm(layer) == pytest.approx(math.sqrt(6 + 18))


def test_nc1_matches_its_definition_and_survives_wide_degenerate_features():
    torch.manual_seed(3)
    labels = torch.randint(0, 3, (60,))
    features = torch.randn(60, 5) + 2 * torch.nn.functional.one_hot(labels, 5).float()
    nc = action_collapse_metrics(features, labels, torch.randn(5, 3))
    h = features.double()
    means = torch.stack([h[labels == c].mean(0) for c in range(3)])
    centred = means - h.mean(0)
    within = h - means[labels]
    sigma_w, sigma_b = within.T @ within / 60, centred.T @ centred / 3
    assert nc["nc1"] == pytest.approx((torch.trace(sigma_w @ torch.linalg.pinv(sigma_b)) / 3).item(), rel=1e-4)
    # 512 ReLU-like units, most dead, four classes: Sigma_B is 512 x 512 of rank 3
    wide = torch.relu(torch.randn(256, 512) - 2.0)
    wide_nc = action_collapse_metrics(wide, torch.arange(256) % 4, torch.randn(512, 4))
    assert set(wide_nc) >= {"nc1", "self_duality"} and all(math.isfinite(v) for v in wide_nc.values())
    assert action_collapse_metrics(torch.full((8, 4), float("nan")), torch.arange(8) % 2, torch.randn(4, 2)) == {}
    assert all(math.isfinite(v) for v in rank_metrics(torch.full((8, 4), float("inf"))).values())
