"""Metrics that show representation and action collapse in deep RL policies.

The one module shared by the scripts of this project. Small, pure functions on torch tensors; each
returns plain Python floats (a few host syncs per call) so that a training loop calls them once per
iteration and logs the result. Degenerate inputs (all zeros, one sample, one class) give a defined
value or a skipped key, never NaN and never an exception. Non-finite features are never replaced by
zeros: the functions that return a dict then report only `nonfinite_fraction` (a diverged network
never shows plausible ranks), and an SVD that does not converge skips its metrics with one line on stderr.

Sources:
  [Visual RL] "Understanding Learned Representations and Action Collapse in Visual RL" (numerical rank,
        correlation of non-zero activations, zero activations, gradient norm; Section 5.1).
  [Moalla] Moalla et al. 2024, "No Representation, No Trust" (ranks: Appendix E; dead units: footnote 7;
        pre-activation norm and excess probability ratio: Sections 3-4; capacity loss: Appendix B, after
        Lyle et al. 2022).
  [NC]  Papyan, Han & Donoho 2020, "Prevalence of neural collapse" (NC1-NC3), used by ACPG
        (arXiv 2509.02737) as the "Action Collapse" metrics with the greedy action as the class.
"""

import copy
import sys

import torch

DEAD_TANH_STD = 1e-3  # [Moalla] footnote 7: a tanh unit is dead when its std over the batch is below 0.001
RANK_KEYS = ("effective_rank", "approx_rank", "srank", "feature_rank", "pytorch_rank", "numerical_rank")


def _nonfinite_fraction(x: torch.Tensor) -> float:
    """Fraction of the entries that are NaN or infinite (0 for an empty tensor)."""
    return float((~torch.isfinite(x)).float().mean().item()) if x.numel() else 0.0


def _svd_or_skip(svd, matrix: torch.Tensor, skipped: str):
    """svd(matrix), or None with one line on stderr when it does not converge (seen on CUDA)."""
    try:
        return svd(matrix)
    except torch.linalg.LinAlgError as error:
        reason = str(error).partition("\n")[0]
        print(f"warning: {skipped} skipped this call, the SVD did not converge: {reason}", file=sys.stderr)
        return None


def rank_metrics(features: torch.Tensor, delta: float = 0.01) -> dict:
    """All rank measures of an N x D feature matrix Phi from one SVD.

    With sigma_1 >= ... >= sigma_D the singular values of Phi (not centred, as in [Moalla] App. E):
      effective_rank  exp(H(sigma / ||sigma||_1))                               (Roy & Vetterli 2007)
      approx_rank     min k: sum_{i<=k} sigma_i^2 / sum sigma^2 > 1 - delta     (PCA 99%, [Moalla] Sec. 2)
      srank           min k: sum_{i<=k} sigma_i / sum sigma > 1 - delta         (Kumar et al. 2021)
      feature_rank    #{sigma_i / sqrt(N) > delta}                              (Lyle et al. 2022)
      pytorch_rank    #{sigma_i > sigma_1 * max(N, D) * eps}                    (torch.linalg.matrix_rank)
      numerical_rank  (sum sigma)^2 / sum sigma^2                               ([Visual RL] Sec. 5.1)
    An all-zero matrix has rank 0 by every measure. Also returns `nonfinite_fraction`, the fraction of
    NaN or infinite entries: when it is not 0, or when the SVD does not converge, it is the only key.
    """
    phi = features.detach().flatten(1).float()
    n, d = phi.shape
    nonfinite = _nonfinite_fraction(phi)
    sigma = None if nonfinite else _svd_or_skip(torch.linalg.svdvals, phi, "rank_metrics")
    if sigma is None:
        return {"nonfinite_fraction": nonfinite}
    total, total_sq = sigma.sum(), (sigma**2).sum()
    if total.item() <= 0.0:
        return {"nonfinite_fraction": 0.0, **dict.fromkeys(RANK_KEYS, 0.0)}
    p = sigma / total
    entropy = -(p * torch.log(p.clamp_min(1e-30))).sum()
    explained_sq = torch.cumsum(sigma**2, 0) / total_sq
    explained = torch.cumsum(sigma, 0) / total
    eps = torch.finfo(phi.dtype).eps
    values = torch.stack(
        [
            torch.exp(entropy),
            (explained_sq <= 1 - delta).sum() + 1,
            (explained <= 1 - delta).sum() + 1,
            (sigma / n**0.5 > delta).sum(),
            (sigma > sigma[0] * max(n, d) * eps).sum(),
            total**2 / total_sq,
        ]
    ).tolist()
    # cumsum rounding can leave the last ratio a hair under 1 - delta: a rank never exceeds min(N, D)
    values[1], values[2] = min(values[1], min(n, d)), min(values[2], min(n, d))
    return {"nonfinite_fraction": 0.0, **dict(zip(RANK_KEYS, values))}


def dead_units(activations: torch.Tensor, activation: str = "relu") -> float:
    """Number of dead units in an N x D batch of post-activations ([Moalla] footnote 7):
    ReLU: zero for every sample; tanh: standard deviation over the batch below 0.001."""
    h = activations.detach().flatten(1)
    if activation == "relu":
        return float((h == 0).all(dim=0).sum().item())
    if activation == "tanh":
        if h.shape[0] < 2:
            return 0.0
        return float((h.float().std(dim=0) < DEAD_TANH_STD).sum().item())
    raise ValueError(f"unknown activation {activation!r}: use 'relu' or 'tanh'")


def zero_fraction(activations: torch.Tensor) -> float:
    """Fraction of activations that are exactly zero ([Visual RL] Sec. 5.1, "zero activations")."""
    h = activations.detach()
    return float((h == 0).float().mean().item()) if h.numel() else 0.0


def nonzero_correlation(activations: torch.Tensor) -> float:
    """Mean Pearson correlation between the activation vectors of every two samples, over the units
    that are non-zero somewhere in the batch ([Visual RL] Sec. 5.1): close to 1 when all inputs map to one point.

    Choice (the paper gives no formula): correlation between samples, not units, because the paper
    reads it as "activations collapse to a single point"; samples whose vector is constant over the
    live units have no correlation and are left out; with fewer than two such samples it returns 0.
    """
    h = activations.detach().flatten(1).float()
    h = h[:, (h != 0).any(dim=0)]
    if h.shape[0] < 2 or h.shape[1] < 2:
        return 0.0
    centred = h - h.mean(dim=1, keepdim=True)
    norms = centred.norm(dim=1)
    centred = centred[norms > 1e-12] / norms[norms > 1e-12, None]
    m = centred.shape[0]
    if m < 2:
        return 0.0
    corr = centred @ centred.T
    return float(((corr.sum() - corr.diagonal().sum()) / (m * (m - 1))).item())


def mean_norm(x: torch.Tensor) -> float:
    """Mean over the batch of the L2 norm of each sample's vector (features or pre-activations, [Moalla] Sec. 3)."""
    x = x.detach().flatten(1).float()
    return float(x.norm(dim=1).mean().item()) if x.shape[0] else 0.0


def action_collapse_metrics(features: torch.Tensor, labels: torch.Tensor, weight: torch.Tensor) -> dict:
    """ACPG's (arXiv 2509.02737) action-collapse metrics, Papyan et al.'s [NC] NC1-NC3 with the greedy action
    as the class: features H (N x D) grouped by `labels`, against the action layer W (D x K, logits = H @ W).

    Only the K' actions present in `labels` count. mu_k are their class means, centred by their UNWEIGHTED
    mean: m_k = mu_k - (1/K') sum_j mu_j; W's present columns are centred the same way: w_k = W_k - (1/K')
    sum_j W_j. So features on W's vertices (h = c W_y + b, c > 0) give 0 below whatever the class counts
    (greedy actions are rarely balanced), and a vector added to every column of W (no change to the
    policy) changes nothing. Sigma_W = (1/N) sum_i (h_i - mu_{y_i})(h_i - mu_{y_i})^T, Sigma_B = M M^T / K'.
      nc1              tr(Sigma_W Sigma_B^+) / K'                         within-class variability (NC1)
      equinorm_means   std_k ||m_k|| / mean_k ||m_k||                     (NC2, norms)
      equinorm_weights std_k ||w_k|| / mean_k ||w_k||                     (NC2, norms of W's columns)
      mean_cosine      mean_{k<l} cos(m_k, m_l), -1/(K'-1) at collapse     (NC2, angles, signed)
      equiangularity   mean_{k<l} |cos(m_k, m_l) + 1/(K'-1)|            (NC2, angles: the cosines' distance
                       from the simplex's; Papyan et al.'s "maximal-angle equiangularity", Avg |cos + 1/(C-1)|)
      equiangularity_std  std_{k<l} cos(m_k, m_l)                         (NC2, angles: how unequal the angles
                       are, whatever their value; Papyan et al.'s "equiangularity", Std cos; population sd over the
                       K'(K'-1)/2 pairs, so the single pair of K' = 2 gives 0)
      self_duality     || W'/||W'||_F - M/||M||_F ||_F^2                 (NC3, Papyan's squared distance)
    with M = [m_k], W' = [w_k]. NC1 uses K' because absent actions have no mean; with K' in Sigma_B too it
    cancels (nc1 = tr(Sigma_W (M M^T)^+)), so never-chosen actions do not rescale it. The two angle measures are 0
    together: the m_k sum to 0, so equal cosines can only be -1/(K'-1) (with equal norms); they differ in scale.
    Equiangularity targets -1/(K'-1): a simplex ETF's columns sqrt(K/(K-1)) U (e_k - 1/K), centred over K'
    of them, are sqrt(K/(K-1)) U (e_k - 1_S/K'), a K'-simplex ETF.
    Also returned: `nonfinite_fraction` (the only key when H is not finite), `present_classes` K' and
    `largest_class_share` (the most frequent action's fraction of N). With K' < 2, or class means that
    coincide (e.g. all-zero features), the between-class geometry is undefined and its keys are skipped;
    nc1 is skipped when its SVD does not converge.
    """
    h = features.detach().flatten(1).float()
    nonfinite = _nonfinite_fraction(h)
    if nonfinite:
        return {"nonfinite_fraction": nonfinite}
    classes, inverse, counts = torch.unique(labels.detach().long().flatten(), return_inverse=True, return_counts=True)
    k = classes.numel()
    metrics = {"nonfinite_fraction": 0.0, "present_classes": float(k)}
    if k:
        metrics["largest_class_share"] = counts.max().item() / h.shape[0]
    if k < 2:
        return metrics
    means = h.new_zeros(k, h.shape[1]).index_add_(0, inverse, h) / counts[:, None]
    m = means - means.mean(0)  # K' x D, rows m_k
    w = weight.detach().float()[:, classes].T
    w = w - w.mean(0)  # K' x D, rows w_k
    w_norms = w.norm(dim=1)
    metrics["equinorm_weights"] = (w_norms.std() / w_norms.mean().clamp_min(1e-12)).item()
    if m.norm() <= 1e-6 * means.norm():  # class means coincide (up to rounding)
        return metrics
    m_norms = m.norm(dim=1)
    i, j = torch.triu_indices(k, k, 1, device=m.device)
    cos = (m[i] * m[j]).sum(1) / (m_norms[i] * m_norms[j]).clamp_min(1e-12)
    values = {
        "equinorm_means": m_norms.std() / m_norms.mean(),
        "mean_cosine": cos.mean(),
        "equiangularity": (cos + 1.0 / (k - 1)).abs().mean(),
        "equiangularity_std": cos.std(correction=0),
        "self_duality": ((w / w.norm().clamp_min(1e-12) - m / m.norm()) ** 2).sum(),
    }
    svd = _svd_or_skip(lambda a: torch.linalg.svd(a, full_matrices=False), m, "nc1")
    if svd is not None:
        # m = A diag(s) U, orthonormal rows u_r spanning the class means, so tr(Sigma_W (M M^T)^+) is
        # sum_r u_r^T Sigma_W u_r / s_r^2 over the nonzero s_r: at most K' - 1 (the m_k sum to 0, rounding leaves
        # a tiny last one) and above pinv's cutoff. No D x D matrix: eigh of Sigma_B fails on real features.
        _, s, u = svd
        rank = torch.arange(s.numel(), device=s.device) < k - 1
        keep = rank & (s > s[0] * max(m.shape) * torch.finfo(s.dtype).eps)
        within = h - means[inverse]
        values["nc1"] = ((within @ u.T).pow(2).mean(0) * torch.where(keep, s.pow(-2), 0)).sum()
    metrics.update(zip(values, torch.stack(list(values.values())).tolist()))
    return metrics


def excess_ratio(ratio: torch.Tensor, clip_coef: float):
    """Excess probability ratio ([Moalla] Sec. 4): the mean of the ratios above 1 + eps divided by the mean
    of the ratios below 1 - eps. None when either side is empty (the paper logs nothing then)."""
    ratio = ratio.detach().flatten().float()
    above, below = ratio[ratio > 1 + clip_coef], ratio[ratio < 1 - clip_coef]
    if above.numel() == 0 or below.numel() == 0:
        return None
    return float((above.mean() / below.mean()).item())


def grad_norm(module: torch.nn.Module) -> float:
    """L2 norm of the gradients of a module's parameters, 0 when none has a gradient ([Visual RL] Sec. 5.1)."""
    grads = [p.grad.detach().flatten() for p in module.parameters() if p.grad is not None]
    return float(torch.cat(grads).norm().item()) if grads else 0.0


def capacity_loss(networks, targets, observations, learning_rate, eps, minibatch_size, max_grad_norm, input_scale=1.0):
    """Capacity loss ([Moalla] App. B, after Lyle et al. 2022): how well copies of the (actor, critic) `networks` fit the
    outputs of the (actor, critic) `targets`, usually freshly initialised, on a fixed batch of `observations`. The
    fit is the training's optimiser: a fresh Adam (learning_rate, eps) over both copies, each copy's gradient norm
    clipped at max_grad_norm, one epoch of full minibatches in a random order (the authors drop the last partial one;
    one permutation from torch's global RNG). Losses: forward KL(target || copy) of the actors' logits, squared error
    of the critics' values. The networks see observations * input_scale, a minibatch at a time (1/255 keeps uint8
    frames small in memory); the originals are left untouched. Returns the losses of the last minibatch, before its
    step, as the authors plot them (capacity.py, `.../last_capacity-minibatch/loss/*`), and the mean losses over the
    batch after the fit (`*_after_fit`)."""
    actor, critic = (copy.deepcopy(network) for network in networks)
    target_actor, target_critic = targets
    optimizer = torch.optim.Adam([*actor.parameters(), *critic.parameters()], lr=learning_rate, eps=eps)

    def losses(obs):
        x = obs * input_scale
        with torch.no_grad():
            target_logits, target_values = target_actor(x), target_critic(x)
        logits = actor(x)
        kl = (target_logits.softmax(1) * (target_logits.log_softmax(1) - logits.log_softmax(1))).sum(1).mean()
        return kl, (critic(x) - target_values).pow(2).mean()

    full_minibatches = len(observations) // minibatch_size * minibatch_size
    for mb_inds in torch.randperm(len(observations), device=observations.device)[:full_minibatches].split(minibatch_size):
        actor_loss, critic_loss = losses(observations[mb_inds])
        optimizer.zero_grad()
        (actor_loss + critic_loss).backward()
        for network in (actor, critic):
            torch.nn.utils.clip_grad_norm_(network.parameters(), max_grad_norm)
        optimizer.step()
    with torch.no_grad():
        after_fit = torch.stack([torch.stack(losses(obs)) for obs in observations.split(minibatch_size)]).mean(0).tolist()
    return {
        "actor_loss": actor_loss.item(),
        "critic_loss": critic_loss.item(),
        "actor_loss_after_fit": after_fit[0],
        "critic_loss_after_fit": after_fit[1],
    }
