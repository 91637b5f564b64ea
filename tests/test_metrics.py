"""metrics_common: analytic cases and degenerate inputs (DESIGN.md, metrics_common.py)."""

import math
import statistics

import pytest
import torch

import metrics_common
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
    assert set(ranks) == RANK_KEYS | {"nonfinite_fraction"} and ranks["nonfinite_fraction"] == 0.0
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


# --- non-finite features and SVD failures ---------------------------------------------------------


def test_nonfinite_features_skip_ranks_and_collapse_metrics():
    """A diverged network must not read as plausible ranks: no zero-filling, only the non-finite fraction."""
    phi = torch.randn(8, 4)
    phi[0, 0], phi[3, 2] = float("nan"), float("inf")
    assert rank_metrics(phi) == {"nonfinite_fraction": 2 / 32}
    assert rank_metrics(torch.full((8, 4), float("-inf"))) == {"nonfinite_fraction": 1.0}
    labels = torch.arange(8) % 2
    assert action_collapse_metrics(phi, labels, torch.randn(4, 2)) == {"nonfinite_fraction": 2 / 32}
    nan = torch.full((8, 4), float("nan"))
    assert action_collapse_metrics(nan, labels, torch.randn(4, 2)) == {"nonfinite_fraction": 1.0}


def test_svd_that_does_not_converge_skips_with_one_line(monkeypatch, capsys):
    def fail(*args, **kwargs):
        raise torch.linalg.LinAlgError("linalg.svd: The algorithm failed to converge\nmore detail")

    monkeypatch.setattr(metrics_common.torch.linalg, "svdvals", fail)
    monkeypatch.setattr(metrics_common.torch.linalg, "svd", fail)
    assert rank_metrics(torch.randn(16, 4)) == {"nonfinite_fraction": 0.0}
    w = simplex_etf(8, 3)
    labels = torch.arange(30) % 3
    nc = action_collapse_metrics(w.T[labels] + 0.1 * torch.randn(30, 8), labels, w)
    assert "nc1" not in nc and {"equiangularity", "self_duality", "present_classes"} <= set(nc)
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2 and all("did not converge" in line for line in err), err


# --- action collapse ---------------------------------------------------------------------------

COLLAPSE_KEYS = {"nc1", "equinorm_means", "equinorm_weights", "equiangularity", "equiangularity_std", "self_duality"}
COUNT_KEYS = {"nonfinite_fraction", "present_classes", "largest_class_share"}  # mean_cosine: -1/(K-1) at collapse


def labels_from_counts(counts):
    """Labels with `counts[a]` samples of action a (0 = action never greedy), shuffled."""
    labels = torch.cat([torch.full((c,), a) for a, c in enumerate(counts)])
    return labels[torch.randperm(labels.numel(), generator=torch.Generator().manual_seed(0))]


@pytest.mark.parametrize(
    "d,counts",
    [
        (16, (10, 10, 10, 10)),  # balanced
        (16, (700, 100, 100, 100)),  # read 0.42 / 0.47 / 0.29 under global-mean centring
        (16, (1, 1, 1, 97)),
        (8, (50, 0, 50)),  # balanced, one action never greedy (self-duality 0.27)
        (16, (30, 0, 5, 0)),  # K=4, two present
        (16, (3, 40, 0, 11)),  # K=4, three present
        (8, (9, 1)),  # K=2
        (64, (5, 300, 2, 20, 1, 90)),
    ],
)
@pytest.mark.parametrize("scale,offset", [(1.0, 0.0), (0.01, 0.0), (100.0, 0.0), (3.0, 0.5)])
def test_features_on_the_etf_vertices_read_collapsed_for_any_class_counts(d, counts, scale, offset):
    torch.manual_seed(len(counts))
    w = simplex_etf(d, len(counts))
    labels = labels_from_counts(counts)
    nc = action_collapse_metrics(scale * w.T[labels] + offset, labels, w)
    assert set(nc) == COLLAPSE_KEYS | COUNT_KEYS | {"mean_cosine"}
    for key in COLLAPSE_KEYS:
        assert nc[key] == pytest.approx(0.0, abs=1e-5), (key, nc)
    assert nc["present_classes"] == sum(c > 0 for c in counts)
    assert nc["largest_class_share"] == pytest.approx(max(counts) / sum(counts))
    assert nc["nonfinite_fraction"] == 0.0


@pytest.mark.parametrize("subset", [(0, 1), (1, 3, 4), (0, 2, 3, 4), (0, 1, 2, 3, 4)])
def test_centred_subset_of_etf_columns_is_a_smaller_simplex_etf(subset):
    """Why equiangularity targets -1/(K'-1), K' = present classes: the present columns of a K-simplex ETF,
    centred by their own mean, are a K'-simplex ETF (equal norms, pairwise cosine -1/(K'-1)); uncentred,
    they keep the K-simplex's cosine -1/(K-1)."""
    torch.manual_seed(0)
    w = simplex_etf(12, 5)[:, list(subset)]
    k = len(subset)
    centred = w - w.mean(dim=1, keepdim=True)
    norms = centred.norm(dim=0)
    cos = (centred / norms).T @ (centred / norms)
    i, j = torch.triu_indices(k, k, 1)
    assert torch.allclose(norms, norms[0].expand(k), atol=1e-6)
    assert torch.allclose(cos[i, j], torch.full((len(i),), -1 / (k - 1)), atol=1e-6)
    assert torch.allclose((w.T @ w)[i, j], torch.full((len(i),), -1 / 4), atol=1e-6)


def test_common_offset_of_w_columns_does_not_change_the_metrics():
    """Adding one vector v to every column of W adds h.v to every logit: the policy is unchanged, so are the
    metrics (W's present columns are centred)."""
    torch.manual_seed(1)
    w = simplex_etf(16, 4)
    labels = labels_from_counts((20, 5, 0, 9))
    features = w.T[labels] + 0.2 * torch.randn(34, 16)
    shifted = w + torch.randn(16, 1)
    plain, offset = action_collapse_metrics(features, labels, w), action_collapse_metrics(features, labels, shifted)
    assert offset == pytest.approx(plain, abs=1e-5)


def test_noise_and_wrong_geometry_move_off_collapse():
    """(Replaces a test that expected unbalanced classes alone to raise equiangularity: that was the old
    global-mean centring's artefact.) Within-class noise raises NC1, class means off W's vertices raise
    equinorm, equiangularity and self-duality, whatever the counts."""
    torch.manual_seed(0)
    w = simplex_etf(16, 4)
    for etf, counts in ((w, (10, 10, 10, 10)), (w, (30, 10, 5, 5)), (w, (40, 0, 10, 0)), (simplex_etf(16, 2), (30, 3))):
        labels = labels_from_counts(counts)
        noisy = action_collapse_metrics(etf.T[labels] + 0.3 * torch.randn(labels.numel(), 16), labels, etf)
        assert noisy["nc1"] > 0.01, counts
    labels = labels_from_counts((30, 10, 5, 5))
    other_etf = simplex_etf(16, 4)  # another U: an ETF, but not W's
    rotated = action_collapse_metrics(other_etf.T[labels], labels, w)
    assert rotated["nc1"] == pytest.approx(0.0, abs=1e-6) and rotated["equiangularity"] < 1e-5
    assert rotated["self_duality"] > 0.1
    skewed = w.T * torch.tensor([1.0, 2.0, 1.0, 1.0])[:, None] + torch.tensor([0.0, 0.0, 0.7, 0.0])[:, None] * w.T[3]
    off = action_collapse_metrics(skewed[labels], labels, w)
    assert off["equinorm_means"] > 0.05 and off["equiangularity"] > 0.05 and off["self_duality"] > 0.05
    assert off["nc1"] == pytest.approx(0.0, abs=1e-6)


def test_nc1_matches_its_definition_with_present_class_centring():
    """NC1 = tr(Sigma_W Sigma_B^+) / K' with K' = 3 present of 5 actions, Sigma_B = M M^T / K' and M the class
    means centred by their unweighted mean (the old test centred by the sample mean; updated with the fix)."""
    torch.manual_seed(3)
    labels = torch.tensor([0, 2, 4])[torch.randint(0, 3, (60,))]
    features = torch.randn(60, 6) + 2 * torch.nn.functional.one_hot(labels, 6).float()
    nc = action_collapse_metrics(features, labels, torch.randn(6, 5))
    h = features.double()
    means = torch.stack([h[labels == c].mean(0) for c in (0, 2, 4)])
    centred = means - means.mean(0)
    within = h - means[labels // 2]
    sigma_w, sigma_b = within.T @ within / 60, centred.T @ centred / 3
    assert nc["nc1"] == pytest.approx((torch.trace(sigma_w @ torch.linalg.pinv(sigma_b)) / 3).item(), rel=1e-4)
    assert nc["present_classes"] == 3


def test_action_collapse_degenerate_inputs_are_defined():
    """One class (the policy's full collapse onto one action), no sample, all-zero or constant features (no
    between-class geometry), fewer samples than features, fewer features than classes, wide features with a
    rank-3 Sigma_B: defined values or skipped keys, never NaN, never an exception."""
    w = simplex_etf(8, 4)
    one = action_collapse_metrics(torch.randn(5, 8), torch.full((5,), 2), w)
    assert one == {"nonfinite_fraction": 0.0, "present_classes": 1.0, "largest_class_share": 1.0}
    assert action_collapse_metrics(torch.zeros(0, 8), torch.zeros(0, dtype=torch.long), w) == {
        "nonfinite_fraction": 0.0,
        "present_classes": 0.0,
    }
    labels = torch.tensor([0, 0, 2, 2, 3])
    for constant in (0.0, 0.1, 7.3):
        flat = action_collapse_metrics(torch.full((5, 8), constant), labels, w)
        assert set(flat) == COUNT_KEYS | {"equinorm_weights"}, (constant, flat)
        assert flat["present_classes"] == 3 and flat["largest_class_share"] == pytest.approx(0.4)
    torch.manual_seed(0)
    few = action_collapse_metrics(torch.randn(3, 64), torch.tensor([0, 1, 3]), simplex_etf(64, 4))
    assert set(few) == COLLAPSE_KEYS | COUNT_KEYS | {"mean_cosine"} and all(math.isfinite(v) for v in few.values())
    narrow = action_collapse_metrics(torch.randn(40, 2), torch.arange(40) % 4, torch.randn(2, 4))  # D < K'
    assert set(narrow) == COLLAPSE_KEYS | COUNT_KEYS | {"mean_cosine"} and all(math.isfinite(v) for v in narrow.values())
    wide = torch.relu(torch.randn(256, 512) - 2.0)  # most units dead: Sigma_B is 512 x 512 of rank 3
    wide_nc = action_collapse_metrics(wide, torch.arange(256) % 4, torch.randn(512, 4))
    assert set(wide_nc) == COLLAPSE_KEYS | COUNT_KEYS | {"mean_cosine"} and all(math.isfinite(v) for v in wide_nc.values())


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


@pytest.mark.parametrize("k", [2, 3, 5])
def test_mean_cosine_reads_minus_one_over_k_minus_one_on_the_vertices(k):
    torch.manual_seed(k)
    from ppo_etf_classic import simplex_etf

    w = simplex_etf(16, k)
    labels = torch.arange(200) % k
    labels[:100] = 0  # unbalanced counts
    metrics = action_collapse_metrics(3.0 * w.T[labels] + 0.5, labels, w)
    assert metrics["mean_cosine"] == pytest.approx(-1 / (k - 1), abs=1e-5)


def test_action_collapse_equiangularity_std_is_the_spread_of_the_pairwise_cosines():
    """Papyan et al.'s equiangularity: the population sd of cos(m_k, m_l) over the pairs k < l of centred class
    means; 0 on an ETF's vertices (any counts), positive off them, 0 (not NaN) for K' = 2's single pair."""
    means = torch.tensor([[0.0, 0.0], [4.0, 0.0], [0.0, 2.0]])  # 3 classes of 2 samples each, no within-class noise
    labels = torch.tensor([0, 0, 1, 1, 2, 2])
    nc = action_collapse_metrics(means[labels], labels, torch.randn(2, 3))
    m = means - means.mean(0)
    cos = [float(m[a] @ m[b] / (m[a].norm() * m[b].norm())) for a, b in ((0, 1), (0, 2), (1, 2))]
    assert nc["equiangularity_std"] == pytest.approx(statistics.pstdev(cos), abs=1e-6)  # float32 rounding
    assert nc["equiangularity_std"] > 0.1 and nc["equiangularity"] > 0.1

    torch.manual_seed(0)
    w = simplex_etf(16, 4)
    labels = labels_from_counts((40, 3, 0, 12))
    assert action_collapse_metrics(2.0 * w.T[labels], labels, w)["equiangularity_std"] == pytest.approx(0.0, abs=1e-6)
    noisy = action_collapse_metrics(w.T[labels] + 0.5 * torch.randn(55, 16), labels, w)
    assert noisy["equiangularity_std"] > 1e-3
    two = action_collapse_metrics(torch.randn(30, 16), labels_from_counts((20, 10)), torch.randn(16, 2))
    assert two["equiangularity_std"] == pytest.approx(0.0, abs=1e-6)  # two centred means are antipodal: one cosine, -1
    one = action_collapse_metrics(torch.randn(5, 16), torch.zeros(5, dtype=torch.long), w)
    assert "equiangularity_std" not in one and all(math.isfinite(v) for v in one.values())


# --- capacity loss ---------------------------------------------------------------------------------------------------

CAPACITY_KEYS = {"actor_loss", "critic_loss", "actor_loss_after_fit", "critic_loss_after_fit"}


def small_actor_and_critic(seed):
    torch.manual_seed(seed)
    return (
        torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3)),
        torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.ReLU(), torch.nn.Linear(16, 1)),
    )


def test_capacity_loss_is_the_last_minibatch_before_its_step_and_the_fit_after_it():
    observations = torch.randint(0, 256, (32, 6), dtype=torch.uint8)
    networks, targets = small_actor_and_critic(1), small_actor_and_critic(0)
    before = [p.clone() for network in networks for p in network.parameters()]
    with torch.no_grad():  # one minibatch holds the whole batch: its loss is the untouched copies'
        x = observations / 255.0
        target_logits, logits = targets[0](x), networks[0](x)
        kl = (target_logits.softmax(1) * (target_logits.log_softmax(1) - logits.log_softmax(1))).sum(1).mean()
        mse = (networks[1](x) - targets[1](x)).pow(2).mean()
    fitted = metrics_common.capacity_loss(networks, targets, observations, 1e-3, 1e-8, 32, 0.5, 1 / 255)
    assert set(fitted) == CAPACITY_KEYS
    # x * (1/255) and x / 255.0 round differently: a relative tolerance
    assert fitted["actor_loss"] == pytest.approx(kl.item(), rel=1e-5)
    assert fitted["critic_loss"] == pytest.approx(mse.item(), rel=1e-5)
    assert fitted["actor_loss_after_fit"] < fitted["actor_loss"] and fitted["critic_loss_after_fit"] < fitted["critic_loss"]
    after = [p for network in networks for p in network.parameters()]
    assert all(torch.equal(a, b) for a, b in zip(before, after))  # the networks themselves are not trained


def test_capacity_loss_of_a_network_fitting_itself_is_zero():
    observations = torch.randint(0, 256, (32, 6), dtype=torch.uint8)
    networks = small_actor_and_critic(0)
    fitted = metrics_common.capacity_loss(networks, networks, observations, 2.5e-4, 1e-8, 32, 0.5, 1 / 255)
    assert fitted["actor_loss"] < 1e-7 and fitted["critic_loss"] < 1e-12  # float rounding of identical outputs


def test_capacity_loss_fits_full_minibatches_only():
    observations = torch.randint(0, 256, (40, 6), dtype=torch.uint8)
    networks, targets = small_actor_and_critic(1), small_actor_and_critic(0)
    seen = []
    targets[0].register_forward_hook(lambda module, inputs, output: seen.append(len(inputs[0])))
    metrics_common.capacity_loss(networks, targets, observations, 1e-3, 1e-8, 16, 0.5, 1 / 255)
    # the fit: two minibatches of 16, the last 8 samples dropped as the authors do; after it, the whole batch
    assert seen == [16, 16, 16, 16, 8]
