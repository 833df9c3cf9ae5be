"""Agreement and error-consistency statistics, pure numpy (scipy for the binomial tail).

Choices are integer codes (-1 = none) in (subject, stimulus) matrices, as
:meth:`neurofacedis.nwb._behaviour.Behaviour.subject_choices` gives them.

Known answers (tests/test_behaviour.py): two observers whose errors fall on independent
stimuli have kappa near 0 whatever their accuracies; identical errors give kappa = 1.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "agreement_ceiling",
    "error_kappa",
    "kappa_matrix",
    "binomial_p",
    "human_kappa_ceiling",
    "permutation_p",
]


def permutation_p(observed: float, null: np.ndarray) -> float:
    """One-sided permutation p-value over the finite null values.

    The core's :func:`neurofacedis.stats.permutation_p`; the statistics here lie in [-1, 1],
    where its tie tolerance is 1e-12.
    """
    from neurofacedis.stats import permutation_p as core

    null = np.asarray(null, dtype=np.float64)
    return core(null[np.isfinite(null)], observed)


def agreement_ceiling(choices: np.ndarray, n_labels: int) -> np.ndarray:
    """Leave-one-subject-out agreement: each subject against the majority of the others.

    Returns, for each subject, the share of stimuli where its choice equals the others'
    majority (stimuli where the others tie or the subject has no choice are left out), NaN
    for a subject with none left.
    """
    from neurofacedis.nwb._behaviour import majority_vote

    c = np.asarray(choices)
    out = np.full(c.shape[0], np.nan)
    for s in range(c.shape[0]):
        others = majority_vote(c, n_labels, leave_out=s)
        ok = (c[s] >= 0) & (others >= 0)
        if ok.any():
            out[s] = float(np.mean(c[s, ok] == others[ok]))
    return out


def error_kappa(h: np.ndarray, m: np.ndarray) -> tuple[float, float, float]:
    """Error consistency of two observers over the same trials (Geirhos et al. 2020).

    ``h`` and ``m`` are booleans, True where that observer answered correctly. With
    ``p1, p2`` their accuracies, ``c_exp = p1 p2 + (1 - p1)(1 - p2)`` is the agreement of
    independent observers of those accuracies and ``c_obs`` the observed share of trials both
    got right or both got wrong; ``kappa = (c_obs - c_exp) / (1 - c_exp)`` (NaN when
    ``c_exp = 1``: both always right or always wrong). Returns ``(kappa, c_obs, c_exp)``.
    """
    h = np.asarray(h, dtype=bool)
    m = np.asarray(m, dtype=bool)
    if h.size == 0:
        return np.nan, np.nan, np.nan
    p1, p2 = h.mean(), m.mean()
    c_exp = p1 * p2 + (1 - p1) * (1 - p2)
    c_obs = float(np.mean(h == m))
    kappa = (c_obs - c_exp) / (1 - c_exp) if c_exp < 1 else np.nan
    return float(kappa), c_obs, float(c_exp)


def kappa_matrix(human: np.ndarray, mask: np.ndarray, model: np.ndarray) -> np.ndarray:
    """:func:`error_kappa` of every subject (rows of ``human``) against one model, at once.

    ``human`` (subject, stimulus) booleans of correct answers, ``mask`` where they count,
    ``model`` (stimulus,) or (permutation, stimulus) booleans; returns (subject,) or
    (permutation, subject) kappas (NaN where undefined).
    """
    h = np.asarray(human, dtype=np.float64) * mask
    w = np.asarray(mask, dtype=np.float64)
    mm = np.atleast_2d(np.asarray(model, dtype=np.float64))
    n = w.sum(axis=1)
    p1 = h.sum(axis=1) / n
    p2 = mm @ w.T / n  # (perm, subject)
    both = mm @ h.T  # both right
    neither = n - h.sum(axis=1) - mm @ w.T + both
    c_obs = (both + neither) / n
    c_exp = p1 * p2 + (1 - p1) * (1 - p2)
    with np.errstate(invalid="ignore", divide="ignore"):
        kappa = np.where(c_exp < 1, (c_obs - c_exp) / (1 - c_exp), np.nan)
    return kappa[0] if np.ndim(model) == 1 else kappa


def binomial_p(c_obs: float, c_exp: float, n: int) -> float:
    """P(at least the observed agreements | independent errors): ``Binomial(n, c_exp)``.

    The test Geirhos et al. (2020) describe for one pair of observers: under independence the
    number of trials with equal correctness is binomial with probability ``c_exp``.
    """
    from scipy.stats import binom

    if not (np.isfinite(c_obs) and np.isfinite(c_exp)) or n == 0:
        return np.nan
    k = int(round(c_obs * n))
    return float(binom.sf(k - 1, n, c_exp))


def human_kappa_ceiling(correct: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Error consistency of every pair of subjects on the stimuli both answered: (pairs,)."""
    out = []
    s = correct.shape[0]
    for i in range(s):
        for j in range(i + 1, s):
            both = mask[i] & mask[j]
            out.append(error_kappa(correct[i, both], correct[j, both])[0])
    return np.asarray(out, dtype=np.float64)
