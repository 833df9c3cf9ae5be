"""Lasso for many targets sharing one design, solved together.

Coordinate descent on the K x K Gram matrix, vectorised over targets (neurons).

The objective, per target ``j``, is scikit-learn's :class:`~sklearn.linear_model.Lasso`::

    (1 / (2 n)) ||y_j - X w_j||^2 + alpha ||w_j||_1

and the algorithm is scikit-learn's cyclic coordinate descent with its stopping rule (a sweep
whose largest coefficient change is at most ``tol`` times the largest coefficient triggers a
duality-gap check; a target stops when its gap is at most ``tol * ||y_j||^2``), run for all
targets at once: every coordinate update is one vector operation over the targets still
running. Only ``X^T X`` (K x K), ``X^T Y`` (K x J) and ``||y_j||^2`` are needed, so the response
matrix is read once (one matrix product) and never copied. scikit-learn's gap-safe screening
is not replicated; it skips coordinates that are provably zero at the optimum and does not
change the solution.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

__all__ = ["LassoFit", "lasso_gram", "fit_lasso", "choose_alpha_cv"]


@dataclass(frozen=True)
class LassoFit:
    """Coefficients and solver diagnostics of a multi-target Lasso.

    Attributes
    ----------
    coef
        (K, J) weights, one column per target (the transpose of scikit-learn's ``coef_``).
    intercept
        (J,) intercepts (zeros when the data were already centred).
    n_iter
        (J,) coordinate sweeps each target ran.
    dual_gap
        (J,) duality gap at the last check.
    converged
        (J,) whether the gap reached ``tol * ||y_j||^2`` within ``max_iter`` sweeps.
    """

    coef: np.ndarray
    intercept: np.ndarray
    n_iter: np.ndarray
    dual_gap: np.ndarray
    converged: np.ndarray


def _dual_gap(
    gram: np.ndarray, xty: np.ndarray, yty: np.ndarray, w: np.ndarray, l1: float
) -> np.ndarray:
    """Duality gap per column (scikit-learn's formulation A, written with the Gram matrix)."""
    gw = gram @ w
    qw = np.einsum("kj,kj->j", xty, w)
    r_norm2 = yty - 2.0 * qw + np.einsum("kj,kj->j", w, gw)
    ry = yty - qw
    dual_norm = np.abs(xty - gw).max(axis=0) if w.shape[0] else np.zeros(w.shape[1])
    scale = np.ones_like(dual_norm)
    big = dual_norm > l1
    scale[big] = l1 / dual_norm[big]
    primal = 0.5 * r_norm2 + l1 * np.abs(w).sum(axis=0)
    dual = -0.5 * scale**2 * r_norm2 + scale * ry
    return primal - dual


def lasso_gram(
    gram: np.ndarray,
    xty: np.ndarray,
    yty: np.ndarray,
    n_samples: int,
    alpha: float,
    *,
    tol: float = 1e-4,
    max_iter: int = 1000,
) -> LassoFit:
    """Solve the Lasso for every target from sufficient statistics (no intercept).

    Parameters
    ----------
    gram
        (K, K) ``X^T X``.
    xty
        (K, J) ``X^T Y``.
    yty
        (J,) ``||y_j||^2``.
    n_samples
        Rows of X (the Lasso's 1/(2n) scaling).
    alpha
        L1 strength, as in scikit-learn (> 0).
    tol, max_iter
        scikit-learn's stopping rule and sweep limit.

    Returns
    -------
    LassoFit
        Weights and diagnostics; a ConvergenceWarning-style warning lists unconverged targets.
    """
    gram = np.asarray(gram, dtype=np.float64)
    xty = np.asarray(xty, dtype=np.float64)
    yty = np.asarray(yty, dtype=np.float64)
    k, j = xty.shape
    if alpha <= 0:
        raise ValueError(f"alpha must be > 0, got {alpha}")
    l1 = float(alpha) * n_samples
    diag = np.diag(gram).copy()
    tol_gap = tol * yty
    w = np.zeros((k, j))
    n_iter = np.zeros(j, dtype=np.int64)
    gap = _dual_gap(gram, xty, yty, w, l1)
    done = gap <= tol_gap
    active = np.flatnonzero(~done)
    wa, qa = w[:, active], xty[:, active]
    for it in range(max_iter):
        if active.size == 0:
            break
        w_max = np.zeros(active.size)
        d_max = np.zeros(active.size)
        for c in range(k):
            if diag[c] == 0.0:
                continue
            old = wa[c].copy()
            tmp = qa[c] - gram[c] @ wa + diag[c] * old
            new = np.sign(tmp) * np.maximum(np.abs(tmp) - l1, 0.0) / diag[c]
            wa[c] = new
            np.maximum(d_max, np.abs(new - old), out=d_max)
            np.maximum(w_max, np.abs(new), out=w_max)
        n_iter[active] = it + 1
        check = (w_max == 0.0) | (d_max <= tol * w_max) | (it == max_iter - 1)
        if check.any():
            w[:, active] = wa
            idx = active[check]
            gap[idx] = _dual_gap(gram, xty[:, idx], yty[idx], w[:, idx], l1)
            stop = gap[idx] <= tol_gap[idx]
            if stop.any():
                done[idx[stop]] = True
                active = active[~done[active]]
                # Compact to the targets still running (one copy per change of the set).
                wa, qa = w[:, active], xty[:, active]
    w[:, active] = wa
    if (~done).any():
        warnings.warn(
            f"Lasso did not converge for {int((~done).sum())} of {j} targets in {max_iter} "
            "sweeps; raise max_iter or alpha",
            RuntimeWarning,
            stacklevel=2,
        )
    return LassoFit(w, np.zeros(j), n_iter, gap, done)


def fit_lasso(
    x: np.ndarray,
    y: np.ndarray,
    alpha: float,
    *,
    fit_intercept: bool = True,
    tol: float = 1e-4,
    max_iter: int = 1000,
) -> LassoFit:
    """Fit scikit-learn's ``Lasso(alpha)`` of every column of ``y`` on ``x``, all at once.

    Gives the coefficients of ``Lasso(alpha, fit_intercept, tol, max_iter).fit(x, y[:, j])``
    for each j (to the solver tolerance) with one pass over ``y``.

    Parameters
    ----------
    x
        (n, K) design.
    y
        (n, J) targets.
    alpha, fit_intercept, tol, max_iter
        As in :class:`sklearn.linear_model.Lasso`.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y)
    n = x.shape[0]
    if fit_intercept:
        x_mean = x.mean(axis=0)
        xc = x - x_mean
        y_mean = y.mean(axis=0, dtype=np.float64)
    else:
        x_mean = np.zeros(x.shape[1])
        xc = x
        y_mean = np.zeros(y.shape[1])
    # X_c^T (Y - 1 ybar) = X_c^T Y because X_c sums to zero over rows: no centred copy of Y.
    xty = xc.T @ y if fit_intercept else x.T @ y
    yty = _centred_sq_norms(y, y_mean) if fit_intercept else np.einsum("ij,ij->j", y, y)
    fit = lasso_gram(xc.T @ xc, xty, yty, n, alpha, tol=tol, max_iter=max_iter)
    intercept = y_mean - x_mean @ fit.coef
    return LassoFit(fit.coef, intercept, fit.n_iter, fit.dual_gap, fit.converged)


def _centred_sq_norms(y: np.ndarray, mean: np.ndarray, block: int = 256) -> np.ndarray:
    """``sum_i (y_ij - mean_j)^2`` per column, in column blocks (bounded temporary memory)."""
    out = np.empty(y.shape[1])
    for s in range(0, y.shape[1], block):
        d = y[:, s : s + block] - mean[s : s + block]
        out[s : s + block] = np.einsum("ij,ij->j", d, d)
    return out


def choose_alpha_cv(
    x: np.ndarray,
    y: np.ndarray,
    rng: np.random.Generator,
    *,
    n_targets: int = 50,
    n_alphas: int = 30,
    cv: int = 5,
) -> float:
    """Pick one alpha for all neurons by K-fold cross-validation on a subsample of them.

    Runs scikit-learn's :class:`~sklearn.linear_model.LassoCV` on up to ``n_targets``
    randomly chosen columns of ``y`` with one shared alpha grid and shared folds, averages the
    cross-validated MSE curves over those columns and returns the alpha that minimises the
    average (a single alpha keeps the per-neuron entropies comparable).

    Parameters
    ----------
    x
        (n, K) standardised latents.
    y
        (n, J) standardised responses.
    rng
        Seeded generator (column subsample and fold shuffle).
    n_targets, n_alphas, cv
        Subsample size, grid size (log-spaced from the largest useful alpha down by 1e-3), folds.
    """
    from sklearn.linear_model import LassoCV
    from sklearn.model_selection import KFold

    n, j = y.shape
    cols = np.sort(rng.choice(j, size=min(n_targets, j), replace=False))
    ys = np.asarray(y[:, cols], dtype=np.float64)
    xc = x - x.mean(axis=0)
    alpha_max = float(np.abs(xc.T @ (ys - ys.mean(axis=0))).max()) / n
    if alpha_max <= 0:
        raise ValueError("responses are uncorrelated with every unit; cannot choose alpha")
    alphas = np.geomspace(alpha_max, alpha_max * 1e-3, n_alphas)
    folds = KFold(cv, shuffle=True, random_state=int(rng.integers(2**31 - 1)))
    mse = np.zeros(n_alphas)
    grid = alphas
    for c in range(ys.shape[1]):
        m = LassoCV(alphas=alphas, cv=folds).fit(x, ys[:, c])
        grid = m.alphas_  # the grid as LassoCV ordered it (decreasing)
        mse += m.mse_path_.mean(axis=1) / ys[:, c].var()
    return float(grid[int(np.argmin(mse))])
