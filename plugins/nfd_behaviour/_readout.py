"""How a model "chooses": a cross-validated linear readout of its latents.

A model has no answer of its own to a human task, so the answer is read out of its latents
the way a linear decoder would: multinomial logistic regression (scikit-learn, L2 with
``C``) on standardised latents, trained on the human majority choice (or on the correct
answer, ``readout=target``) of the stimuli in the other folds, predicting each stimulus only
from a fit that never saw it (stratified k-fold over stimuli, seeded). Stimuli without a
training label (a tie among humans) are still predicted, never trained on.
"""

from __future__ import annotations

import numpy as np

from neurofacedis.errors import InputError

__all__ = ["readout_choices"]


def readout_choices(latents: np.ndarray, labels: np.ndarray, *, n_folds: int = 5,
                    c: float = 1.0, seed: int = 0) -> np.ndarray:
    """Out-of-fold predicted label (int code) for every stimulus.

    Parameters
    ----------
    latents
        (stimulus, unit) float array.
    labels
        (stimulus,) int codes to train on; -1 = no label (predicted, not trained on).
    n_folds
        Folds (reduced to the size of the smallest class when that is smaller; >= 2).
    c
        Inverse L2 regularisation strength of the logistic regression.
    seed
        Seed of the fold assignment.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold

    z = np.asarray(latents, dtype=np.float64)
    y = np.asarray(labels, dtype=np.int64)
    known = np.flatnonzero(y >= 0)
    classes, counts = np.unique(y[known], return_counts=True)
    if classes.size < 2:
        raise InputError("the readout needs at least 2 different answers to train on",
                         obj="readout")
    folds = min(int(n_folds), int(counts.min()))
    if folds < 2:
        raise InputError(f"an answer is given for only {int(counts.min())} stimulus; the "
                         "cross-validated readout needs >= 2 per answer", obj="readout")
    out = np.full(y.shape, -1, dtype=np.int64)
    unknown = np.flatnonzero(y < 0)
    spread = np.array_split(unknown, folds)  # unlabelled stimuli: one share per fold
    split = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for f, (tr, te) in enumerate(split.split(known, y[known])):
        train, test = known[tr], np.concatenate([known[te], spread[f]])
        mu, sd = z[train].mean(axis=0), z[train].std(axis=0)
        sd = np.where(sd > 0, sd, 1.0)
        fit = LogisticRegression(C=c, max_iter=2000)
        fit.fit((z[train] - mu) / sd, y[train])
        out[test] = fit.predict((z[test] - mu) / sd)
    return out
