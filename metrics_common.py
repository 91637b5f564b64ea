"""Metrics that show representation and action collapse in deep RL policies.

The one module shared by the scripts of this project. Small, pure functions on torch tensors; each
returns plain Python floats (one host sync per call) so that a training loop calls them once per
iteration and logs the result. Degenerate inputs (all zeros, one sample, one class) give a defined
value or a skipped key, never NaN and never an exception.

Sources:
  [003] "Understanding Learned Representations and Action Collapse in Visual RL" (numerical rank,
        correlation of non-zero activations, zero activations, gradient norm; Section 5.1).
  [004] Moalla et al. 2024, "No Representation, No Trust" (ranks: Appendix E; dead units: footnote 7;
        pre-activation norm and excess probability ratio: Sections 3-4).
  [NC]  Papyan, Han & Donoho 2020, "Prevalence of neural collapse" (NC1-NC3), used by ACPG
        (arXiv 2509.02737) as the "Action Collapse" metrics with the greedy action as the class.
"""

import torch

DEAD_TANH_STD = 1e-3  # [004] footnote 7: a tanh unit is dead when its std over the batch is below 0.001


def rank_metrics(features: torch.Tensor, delta: float = 0.01) -> dict:
    """All rank measures of an N x D feature matrix Phi from one SVD.

    With sigma_1 >= ... >= sigma_D the singular values of Phi (not centred, as in [004] App. E):
      effective_rank  exp(H(sigma / ||sigma||_1))                               (Roy & Vetterli 2007)
      approx_rank     min k: sum_{i<=k} sigma_i^2 / sum sigma^2 > 1 - delta     (PCA 99%, [004] Sec. 2)
      srank           min k: sum_{i<=k} sigma_i / sum sigma > 1 - delta         (Kumar et al. 2021)
      feature_rank    #{sigma_i / sqrt(N) > delta}                              (Lyle et al. 2022)
      pytorch_rank    #{sigma_i > sigma_1 * max(N, D) * eps}                    (torch.linalg.matrix_rank)
      numerical_rank  (sum sigma)^2 / sum sigma^2                               ([003] Sec. 5.1)
    An all-zero matrix has rank 0 by every measure; non-finite entries count as zeros.
    """
    phi = features.detach().flatten(1).float()
    n, d = phi.shape
    sigma = torch.linalg.svdvals(torch.nan_to_num(phi, nan=0.0, posinf=0.0, neginf=0.0))
    total, total_sq = sigma.sum(), (sigma**2).sum()
    if total.item() <= 0.0:
        return dict.fromkeys(
            ("effective_rank", "approx_rank", "srank", "feature_rank", "pytorch_rank", "numerical_rank"), 0.0
        )
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
    keys = ("effective_rank", "approx_rank", "srank", "feature_rank", "pytorch_rank", "numerical_rank")
    # cumsum rounding can leave the last ratio a hair under 1 - delta: a rank never exceeds min(N, D)
    values[1], values[2] = min(values[1], min(n, d)), min(values[2], min(n, d))
    return dict(zip(keys, values))


def dead_units(activations: torch.Tensor, activation: str = "relu") -> float:
    """Number of dead units in an N x D batch of post-activations ([004] footnote 7):
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
    """Fraction of activations that are exactly zero ([003] Sec. 5.1, "zero activations")."""
    h = activations.detach()
    return float((h == 0).float().mean().item()) if h.numel() else 0.0


def nonzero_correlation(activations: torch.Tensor) -> float:
    """Mean Pearson correlation between the activation vectors of every two samples, over the units
    that are non-zero somewhere in the batch ([003] Sec. 5.1): close to 1 when all inputs map to one point.

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
    """Mean over the batch of the L2 norm of each sample's vector (features or pre-activations, [004] Sec. 3)."""
    x = x.detach().flatten(1).float()
    return float(x.norm(dim=1).mean().item()) if x.shape[0] else 0.0


def action_collapse_metrics(features: torch.Tensor, labels: torch.Tensor, weight: torch.Tensor) -> dict:
    """Neural-collapse metrics of the features H (N x D) grouped by action labels, against the action
    layer W (D x K, one column per action; logits = H @ W). Only the K' actions that occur in `labels`
    are used; with K' < 2 the between-class geometry is undefined and {} is returned.

    mu_G global mean, mu_k class means, M = [mu_k - mu_G] (centred by the global mean, so unbalanced
    classes move them off an ETF):
      nc1              tr(Sigma_W Sigma_B^+) / K'                         within-class variability (NC1)
      equinorm_means   std_k ||mu_k - mu_G|| / mean_k ||mu_k - mu_G||     (NC2, norms)
      equinorm_weights std_k ||w_k|| / mean_k ||w_k||                     (NC2, norms of W's columns)
      equiangularity   mean_{k != l} |cos(M_k, M_l) + 1/(K'-1)|          (NC2, angles; 0 for a simplex ETF)
      self_duality     || W/||W||_F - M/||M||_F ||_F^2                    (NC3, Papyan's squared distance)
    """
    h = features.detach().flatten(1).float()
    labels = labels.detach().long().flatten()
    w = weight.detach().float()
    classes = torch.unique(labels)
    k = classes.numel()
    if k < 2 or not torch.isfinite(h).all():
        return {}
    onehot = (labels[:, None] == classes[None, :]).float()  # N x K'
    counts = onehot.sum(0)
    means = (onehot.T @ h) / counts[:, None]  # K' x D
    global_mean = h.mean(0)
    centred = (means - global_mean).T  # D x K'
    within = h - means[torch.searchsorted(classes, labels)]
    sigma_w = within.T @ within / h.shape[0]
    # Sigma_B = M M^T / K' has rank < K' <= D: its pseudo-inverse K' M^+T M^+ comes from the SVD of the small
    # D x K' matrix M (a hermitian eigh of the D x D Sigma_B fails to converge on real features), so
    # tr(Sigma_W Sigma_B^+) / K' = tr(M^+ Sigma_W M^+T).
    m_pinv = torch.linalg.pinv(centred)  # K' x D
    nc1 = torch.trace(m_pinv @ sigma_w @ m_pinv.T)

    mean_norms = centred.norm(dim=0)
    w_k = w[:, classes]
    w_norms = w_k.norm(dim=0)
    unit = centred / mean_norms.clamp_min(1e-12)
    cos = unit.T @ unit
    off_diagonal = ~torch.eye(k, dtype=torch.bool, device=h.device)
    equiangularity = (cos[off_diagonal] + 1.0 / (k - 1)).abs().mean()
    self_duality = ((w_k / w_k.norm().clamp_min(1e-12) - centred / centred.norm().clamp_min(1e-12)) ** 2).sum()
    values = torch.stack(
        [
            nc1,
            mean_norms.std() / mean_norms.mean().clamp_min(1e-12),
            w_norms.std() / w_norms.mean().clamp_min(1e-12),
            equiangularity,
            self_duality,
        ]
    ).tolist()
    keys = ("nc1", "equinorm_means", "equinorm_weights", "equiangularity", "self_duality")
    return {key: value for key, value in zip(keys, values) if value == value}  # drop NaN (e.g. zero features)


def excess_ratio(ratio: torch.Tensor, clip_coef: float):
    """Excess probability ratio ([004] Sec. 4): the mean of the ratios above 1 + eps divided by the mean
    of the ratios below 1 - eps. None when either side is empty (the paper logs nothing then)."""
    ratio = ratio.detach().flatten().float()
    above, below = ratio[ratio > 1 + clip_coef], ratio[ratio < 1 - clip_coef]
    if above.numel() == 0 or below.numel() == 0:
        return None
    return float((above.mean() / below.mean()).item())


def grad_norm(module: torch.nn.Module) -> float:
    """L2 norm of the gradients of a module's parameters, 0 when none has a gradient ([003] Sec. 5.1)."""
    grads = [p.grad.detach().flatten() for p in module.parameters() if p.grad is not None]
    return float(torch.cat(grads).norm().item()) if grads else 0.0
