"""Exact low-dimensional coordinates of a support set, from its Gram matrix alone.

The logistic solver (:mod:`fewshot_clce.heads.logistic_solver`) works in these coordinates: the
optimal weights lie in the span of the support features, and ``n`` support points have an
isometric copy in ``n`` dimensions, whatever the feature width.
"""

from __future__ import annotations

import torch

# Smallest squared Cholesky pivot, relative to the largest squared norm, for which L^-1 is used
# on a float64 Gram matrix: its rounding error grows like eps / pivot, kept near 1e-11 here;
# smaller pivots (nearly dependent support samples) take the eigendecomposition, which drops
# such directions. A Gram matrix computed in lower precision raises the bar (support_coordinates).
_PIVOT = 1e-10


def support_coordinates(gram: torch.Tensor, eps: float) -> tuple[torch.Tensor, torch.Tensor]:
    """An exact ``n``-dimensional copy of the support and the map back to it.

    Args:
        gram: ``[E, n, n]`` float64 Gram matrix ``x x^T`` of the support.
        eps: the relative precision the Gram matrix was computed in: directions whose
            eigenvalue is within its rounding error are dropped.

    Returns:
        ``z [E, n, n]`` with ``z z^T = gram`` (row ``i`` are the coordinates of sample ``i`` in
        an orthonormal basis ``V^T [E, n, D]`` of the support's span: ``x = z V^T``), and
        ``back [E, n, n]`` with ``V^T = back @ x``, so that weights ``theta`` in these
        coordinates are ``theta @ back @ x`` in the input space.
    """
    E, n, _ = gram.shape
    chol, info = torch.linalg.cholesky_ex(gram)
    pivot = chol.diagonal(dim1=1, dim2=2)  # [E, n]
    # A support with repeated (or linearly dependent) samples has a singular Gram matrix: its
    # Cholesky factor fails or has pivots at rounding level, and L^-1 would amplify that noise.
    scale = gram.diagonal(dim1=1, dim2=2).amax(1)  # [E]
    ok = (info == 0) & (pivot.pow(2).amin(1) > scale * max(_PIVOT, 10 * n * eps))
    eye = torch.eye(n, dtype=gram.dtype, device=gram.device).expand(E, n, n)
    back = torch.linalg.solve_triangular(chol, eye, upper=False)  # L^-1 [E, n, n]
    z = chol
    if not ok.all():
        # Eigendecomposition K = U S U^T: z = U S^(1/2), V^T = S^(-1/2) U^T x; directions with an
        # eigenvalue at rounding level get zero coordinates and no weight.
        bad = torch.nonzero(~ok).flatten()
        s, u = torch.linalg.eigh(gram[bad])  # s [b, n], u [b, n, n]
        s = s.clamp_min(0)
        keep = s > s.amax(1, keepdim=True) * n * max(eps, torch.finfo(s.dtype).eps)
        inv_sqrt = torch.where(
            keep, s.clamp_min(torch.finfo(s.dtype).tiny).rsqrt(), torch.zeros_like(s)
        )
        z, back = z.clone(), back.clone()
        z[bad] = u * torch.where(keep, s.sqrt(), torch.zeros_like(s)).unsqueeze(1)
        back[bad] = (u * inv_sqrt.unsqueeze(1)).transpose(1, 2)
    return z, back
