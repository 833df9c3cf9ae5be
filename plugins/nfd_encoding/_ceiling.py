"""Noise ceiling of single neurons.

Split-half reliability over repeats, Spearman-Brown corrected to the full number of repeats.
"""

from __future__ import annotations

import warnings

import numpy as np

from neurofacedis.errors import InputError

__all__ = ["split_half_reliability", "spearman_brown"]


def spearman_brown(r: np.ndarray, factor: float = 2.0) -> np.ndarray:
    """Reliability of a measure ``factor`` times longer: factor r / (1 + (factor - 1) r)."""
    r = np.asarray(r, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return factor * r / (1 + (factor - 1) * r)


def _pearson_cols(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson r per column over rows where both are finite."""
    ok = np.isfinite(a) & np.isfinite(b)
    n = ok.sum(axis=0)
    a = np.where(ok, a, 0.0)
    b = np.where(ok, b, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        ma, mb = a.sum(axis=0) / n, b.sum(axis=0) / n
        da, db = np.where(ok, a - ma, 0.0), np.where(ok, b - mb, 0.0)
        return np.einsum("ij,ij->j", da, db) / np.sqrt(
            np.einsum("ij,ij->j", da, da) * np.einsum("ij,ij->j", db, db))


def split_half_reliability(
    responses: np.ndarray,
    rng: np.random.Generator,
    n_splits: int = 10,
    chunk_bytes: int = 64 << 20,
    *,
    rows: np.ndarray | None = None,
) -> np.ndarray:
    """Spearman-Brown-corrected split-half reliability of each neuron's mean response.

    For each of ``n_splits`` random halvings of the repeats, the two half means (NaN-aware)
    are correlated across stimuli per neuron; the mean r over splits is corrected to the full
    number of repeats with Spearman-Brown (factor 2). This is the share of the repeat-averaged
    response's variance that is stimulus-driven: the best possible R^2 of any model of it.

    Neurons are processed in blocks sized in bytes, like the runner's repeat mean: a block's
    float64 copy holds at most min(``chunk_bytes``, max(1/16 of ``responses``, 1 MiB)) (and
    at least one neuron), so however many stimuli and repeats there are, the temporaries stay
    small next to the response matrix.

    Parameters
    ----------
    responses
        (stimulus, neuron, repeat), NaN for a missing repeat; at least 2 repeats.
    rng
        Seeded generator for the halvings (the same halvings for every neuron).
    n_splits
        Random halvings averaged.
    chunk_bytes
        Upper bound on one block's float64 copy, in bytes.
    rows
        Stimulus indices (into the first axis) to use; None = all. Only each block's rows
        are copied, never ``responses[rows]`` as a whole.

    Returns
    -------
    numpy.ndarray
        (neuron,) reliability; NaN where a neuron's halves do not vary.
    """
    y = np.asarray(responses)
    if y.ndim != 3 or y.shape[2] < 2:
        raise InputError("the split-half noise ceiling needs >= 2 repeats", obj="noise ceiling")
    n_rows = y.shape[0] if rows is None else len(rows)
    n_neurons, r_count = y.shape[1], y.shape[2]
    splits = [rng.permutation(r_count) for _ in range(int(n_splits))]
    budget = min(int(chunk_bytes), max(y.nbytes // 16, 1 << 20))
    per_neuron = max(1, n_rows * r_count * 8)  # float64 bytes of one neuron's block column
    step = max(1, budget // per_neuron)
    total = np.zeros(n_neurons)
    for start in range(0, n_neurons, step):
        cols = slice(start, start + step)
        block = np.asarray(y[:, cols] if rows is None else y[rows, cols], dtype=np.float64)
        acc = np.zeros(block.shape[1])
        for perm in splits:
            h1, h2 = perm[: r_count // 2], perm[r_count // 2:]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN half -> NaN
                m1 = np.nanmean(block[:, :, h1], axis=2)
                m2 = np.nanmean(block[:, :, h2], axis=2)
            acc += _pearson_cols(m1, m2)
        total[cols] = acc / len(splits)
    return spearman_brown(total)
