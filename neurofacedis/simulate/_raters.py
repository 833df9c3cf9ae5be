"""Simulated human raters with a known generating model (the behaviour known answers).

Raters judge each image through a *generating model*: a linear readout of that model's
latents (standardised per unit), plus noise of known size. Two tasks:

* ``valence``: the readout is one value per image, ``v = z @ w`` scaled to unit standard
  deviation; subject ``s`` perceives ``v + b_s + noise * e`` on each trial (``b_s`` a fixed
  per-subject bias of standard deviation ``bias``, ``e`` standard normal), rates it with that
  number and chooses ``positive`` when it is > 0, else ``negative``. The correct answer is
  the sign of ``truth`` (default ``v``: then every error is noise).
* ``identity``: one readout per identity, ``S = z @ W`` (``W`` the least-squares readout of
  the one-hot identities, scores scaled to unit standard deviation); the subject chooses the
  identity with the largest ``S + noise * e``. The correct answer is the image's identity.

Reaction times follow ``0.4 + 0.6 exp(-|margin|)`` s (+ 5 % lognormal jitter), where the
margin is the perceived value (valence) or the gap between the two best scores (identity):
hard images are slow. Similarity judgements: subject ``s``'s RDM is the Euclidean distance
between the images' standardised latents (divided by sqrt(k)) plus symmetric Gaussian noise
of standard deviation ``rdm_noise``, clipped at 0. Everything is seeded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from neurofacedis.errors import InputError
from neurofacedis.nwb._behaviour import Behaviour, behaviour_from_table

__all__ = ["SimulatedRaters", "simulate_raters"]

TASKS = ("valence", "identity")


@dataclass(frozen=True, eq=False)
class SimulatedRaters:
    """Simulated behaviour and the truth that generated it.

    Attributes
    ----------
    behaviour
        The trials (choices, ratings, reaction times) and per-subject RDMs.
    weights
        The generating readout: (k,) for valence, (k, identities) for identity.
    values
        The generating model's noise-free value per image (valence) or scores
        (image, identity).
    bias
        Each subject's bias (valence; zeros for identity).
    noise
        The per-trial noise standard deviation.
    """

    behaviour: Behaviour
    weights: np.ndarray
    values: np.ndarray
    bias: np.ndarray
    noise: float


def _standardise(latents: Any) -> np.ndarray:
    z = np.asarray(latents, dtype=np.float64)
    if z.ndim != 2 or z.shape[0] < 4 or z.shape[1] < 1:
        raise InputError(f"latents must be (images >= 4, units >= 1), got {z.shape}",
                         obj="simulate_raters")
    if not np.isfinite(z).all():
        raise InputError("latents hold NaN or infinite values", obj="simulate_raters")
    sd = z.std(axis=0)
    return (z - z.mean(axis=0)) / np.where(sd > 0, sd, 1.0)


def simulate_raters(
    latents: Any,
    *,
    task: str = "valence",
    truth: Sequence[Any] | None = None,
    weights: np.ndarray | None = None,
    n_subjects: int = 10,
    repeats: int = 1,
    noise: float = 0.5,
    bias: float = 0.1,
    rdm_noise: float = 0.3,
    stimulus_ids: Sequence[str] | None = None,
    seed: int = 0,
) -> SimulatedRaters:
    """Simulate ``n_subjects`` raters judging every image ``repeats`` times.

    Parameters
    ----------
    latents
        The generating model's latents (image, unit).
    task
        ``valence`` (binary choice + rating) or ``identity`` (choice among identities).
    truth
        Valence: true value per image (its sign is the correct answer; default the generating
        value itself). Identity: the identity label of each image (required).
    weights
        The valence readout (k,); default the least-squares readout of ``truth`` when given,
        else a seeded random unit vector.
    n_subjects, repeats
        Raters, and times each sees each image.
    noise, bias, rdm_noise
        Per-trial noise, per-subject bias (valence) and RDM noise standard deviations.
    stimulus_ids
        Image ids (default ``s0000``...).
    seed
        Seed of every random draw.
    """
    import pandas as pd

    if task not in TASKS:
        raise InputError(f"unknown task {task!r}; one of {', '.join(TASKS)}", obj="task")
    if n_subjects < 2 or repeats < 1 or min(noise, bias, rdm_noise) < 0:
        raise InputError("need n_subjects >= 2, repeats >= 1 and noise levels >= 0",
                         obj="simulate_raters")
    z = _standardise(latents)
    n = z.shape[0]
    ids = [f"s{i:04d}" for i in range(n)] if stimulus_ids is None else [str(s) for s in
                                                                       stimulus_ids]
    rng = np.random.default_rng(seed)
    subject_bias = rng.normal(0, bias, n_subjects) if task == "valence" else np.zeros(n_subjects)
    if task == "valence":
        w, values, targets = _valence_readout(z, truth, weights, rng)
    else:
        w, values, targets = _identity_readout(z, truth)
    subj = np.repeat(np.arange(n_subjects), n * repeats)
    stim = np.tile(np.repeat(np.arange(n), repeats), n_subjects)
    if task == "valence":
        perceived = values[stim] + subject_bias[subj] + noise * rng.standard_normal(stim.size)
        choice = np.where(perceived > 0, "positive", "negative")
        margin, rating = np.abs(perceived), perceived
    else:
        scores = values[stim] + noise * rng.standard_normal((stim.size, values.shape[1]))
        top = np.sort(scores, axis=1)
        labels = np.array(sorted({str(t) for t in truth}), dtype=object)  # type: ignore[union-attr]
        choice = labels[scores.argmax(axis=1)]
        margin, rating = top[:, -1] - top[:, -2], np.full(stim.size, np.nan)
    rt = (0.4 + 0.6 * np.exp(-margin)) * rng.lognormal(0, 0.05, stim.size)
    frame = pd.DataFrame({"stimulus_id": np.array(ids, dtype=object)[stim],
                          "subject_id": [f"rater{s:02d}" for s in subj], "choice": choice,
                          "rating": rating, "reaction_time": rt})
    rdms = _rdms(z, n_subjects, rdm_noise, rng)
    behaviour = behaviour_from_table(
        frame, source="<simulated raters>", stimulus_ids=ids, targets=targets, rdms=rdms,
        rdm_subjects=[f"rater{s:02d}" for s in range(n_subjects)])
    return SimulatedRaters(behaviour=behaviour, weights=w, values=values, bias=subject_bias,
                           noise=float(noise))


def _valence_readout(z: np.ndarray, truth: Sequence[Any] | None, weights: np.ndarray | None,
                     rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, list[str]]:
    t = None if truth is None else np.asarray(truth, dtype=np.float64)
    if t is not None and t.shape != (z.shape[0],):
        raise InputError(f"{t.size} truth values for {z.shape[0]} images", obj="truth")
    if weights is not None:
        w = np.asarray(weights, dtype=np.float64).ravel()
        if w.size != z.shape[1]:
            raise InputError(f"{w.size} weights for {z.shape[1]} latent units", obj="weights")
    elif t is not None:
        w = np.linalg.lstsq(z, t - t.mean(), rcond=None)[0]
    else:
        w = rng.standard_normal(z.shape[1])
    v = z @ w
    if not v.std() > 0:
        raise InputError("the readout is constant over the images", obj="weights")
    v = v / v.std()
    t = v if t is None else t
    return w, v, ["positive" if x > 0 else "negative" for x in t]


def _identity_readout(z: np.ndarray, truth: Sequence[Any] | None
                      ) -> tuple[np.ndarray, np.ndarray, list[str]]:
    if truth is None or len(truth) != z.shape[0]:
        raise InputError("identity judgements need one identity label per image", obj="truth")
    names = [str(t) for t in truth]
    labels = sorted(set(names))
    if len(labels) < 2:
        raise InputError("identity judgements need at least 2 identities", obj="truth")
    onehot = np.array([[name == lab for lab in labels] for name in names], dtype=np.float64)
    zc = np.hstack([z, np.ones((z.shape[0], 1))])
    w = np.linalg.lstsq(zc, onehot, rcond=None)[0]
    scores = zc @ w
    return w, scores / scores.std(), names


def _rdms(z: np.ndarray, n_subjects: int, noise: float, rng: np.random.Generator) -> np.ndarray:
    sq = (z**2).sum(axis=1)
    d = np.sqrt(np.maximum(sq[:, None] + sq[None, :] - 2 * z @ z.T, 0) / z.shape[1])
    e = rng.normal(0, noise, (n_subjects, *d.shape))
    e = np.triu(e, 1)
    out = np.maximum(d[None] + e + e.transpose(0, 2, 1), 0)
    idx = np.arange(d.shape[0])
    out[:, idx, idx] = 0
    return out
