"""The metrics ``agreement``, ``error_consistency`` and ``behaviour_rsa``.

Each reads the human behaviour from ``ctx.behaviour`` (a
:class:`~neurofacedis.nwb._behaviour.Behaviour`; the runner passes it with ``--target
behaviour``) and the model's latents from ``ctx.latents`` (stimulus, unit), matched by
stimulus id. Latents are taken directly, not through ``ctx.matrices()``: a behaviour
target needs no neural responses.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from neurofacedis.errors import InputError
from nfd_behaviour._readout import readout_choices
from nfd_behaviour._stats import (
    agreement_ceiling,
    binomial_p,
    error_kappa,
    human_kappa_ceiling,
    kappa_matrix,
    permutation_p,
)

if TYPE_CHECKING:
    import xarray as xr
    from matplotlib.figure import Figure

    from neurofacedis.nwb._behaviour import Behaviour
    from neurofacedis.specs import MetricContext

__all__ = ["AgreementMetric", "ErrorConsistencyMetric", "BehaviourRSAMetric",
           "behaviour_latents"]

READOUTS = ("majority", "target")
RSA_COMPARISONS = ("spearman", "pearson", "cosine")


def behaviour_latents(ctx: MetricContext, what: str) -> tuple[Behaviour, np.ndarray]:
    """Return the context's behaviour and its stimuli's latents (behaviour stimulus, unit)."""
    b = getattr(ctx, "behaviour", None)
    if b is None:
        raise InputError("no human behaviour for these stimuli (analyze --target behaviour "
                         "with a behaviour file)", obj=what)
    lat = ctx.latents
    if tuple(lat.dims) != ("stimulus", "unit"):
        lat = lat.transpose("stimulus", "unit")
    ids = lat["stimulus"].values if "stimulus" in lat.coords else np.arange(lat.shape[0])
    z = np.asarray(lat.values, dtype=np.float64)[b.rows_in([str(i) for i in ids])]
    if not np.isfinite(z).all():
        raise InputError("latents hold NaN or infinite values", obj=what)
    return b, z


def _seed(ctx: MetricContext) -> int:
    return int(ctx.rng.integers(0, 2**31 - 1))


class _ChoiceMetric:
    """Shared parameters and the model's cross-validated choices."""

    name = ""

    def __init__(self, readout: str = "majority", n_folds: int = 5, c: float = 1.0,
                 n_permutations: int = 1000) -> None:
        if readout not in READOUTS:
            raise InputError(f"readout must be one of {', '.join(READOUTS)}, got {readout!r}",
                             obj=self.name)
        if n_folds < 2 or c <= 0 or n_permutations < 0:
            raise InputError("need n_folds >= 2, c > 0 and n_permutations >= 0", obj=self.name)
        self.readout, self.n_folds, self.c = readout, int(n_folds), float(c)
        self.n_permutations = int(n_permutations)

    def choices(self, ctx: MetricContext) -> tuple[Behaviour, np.ndarray, np.ndarray]:
        """Behaviour, subject choices (subject, stimulus) and the model's choices."""
        b, z = behaviour_latents(ctx, self.name)
        if not b.has_choices:
            raise InputError("the behaviour holds no choices", file=b.source or None,
                             obj=self.name)
        from neurofacedis.nwb._behaviour import majority_vote

        choices = b.subject_choices()
        if self.readout == "target":
            if b.targets is None:
                raise InputError("readout=target needs the correct answers (target)",
                                 file=b.source or None, obj=self.name)
            train = b.targets
        else:
            train = majority_vote(choices, len(b.choice_labels))
        model = readout_choices(z, train, n_folds=self.n_folds, c=self.c, seed=_seed(ctx))
        return b, choices, model


class AgreementMetric(_ChoiceMetric):
    """Model choice vs the human majority per image, with the between-subject ceiling.

    ``agreement`` = share of stimuli (human ties left out) where the model's cross-validated
    choice equals the majority of all subjects; ``ceiling`` = mean over subjects of the share
    where a subject's choice equals the majority of the *other* subjects (leave one subject
    out): how well a typical human agrees with the crowd. A noise-free model can exceed it.
    ``p_value``: the model's choices permuted over stimuli (its answer frequencies kept).
    """

    name = "agreement"

    def compute(self, ctx: MetricContext) -> xr.Dataset:
        """Compute agreement, its ceiling and the permutation p-value."""
        import xarray as xr

        from neurofacedis.nwb._behaviour import majority_vote

        b, choices, model = self.choices(ctx)
        n_labels = len(b.choice_labels)
        majority = majority_vote(choices, n_labels)
        ok = majority >= 0
        if not ok.any():
            raise InputError("the subjects tie on every stimulus", obj=self.name)
        hit = model[ok] == majority[ok]
        observed = float(hit.mean())
        perms = [ctx.rng.permutation(int(ok.sum())) for _ in range(self.n_permutations)]
        null = np.array([np.mean(model[ok][p] == majority[ok]) for p in perms])
        per_subject = agreement_ceiling(choices, n_labels)
        ceiling = float(np.nanmean(per_subject))
        freq_m = np.bincount(model[ok], minlength=n_labels) / ok.sum()
        freq_h = np.bincount(majority[ok], minlength=n_labels) / ok.sum()
        votes = (choices == majority[None, :]).sum(axis=0) / np.maximum(
            (choices >= 0).sum(axis=0), 1)
        labels = np.array([*b.choice_labels, ""], dtype=object)
        return xr.Dataset(
            {"model_choice": ("stimulus", labels[model].astype(str)),
             "human_majority": ("stimulus", labels[majority].astype(str)),
             "majority_share": ("stimulus", np.where(ok, votes, np.nan)),
             "subject_ceiling": ("subject", per_subject),
             "null": ("permutation", null)},
            coords={"stimulus": list(b.stimulus_ids), "subject": list(b.subjects)},
            attrs={"agreement": observed, "ceiling": ceiling,
                   "normalized": observed / ceiling if ceiling > 0 else float("nan"),
                   "chance": float(freq_m @ freq_h),
                   "p_value": permutation_p(observed, null) if perms else float("nan"),
                   "n_stimuli": int(ok.sum()), "n_subjects": len(b.subjects)})

    def figures(self, result: xr.Dataset) -> dict[str, Figure]:
        """Bar of agreement against the ceiling and chance, with the permutation null."""
        fig = _figure()
        ax = fig.subplots()
        ax.hist(result["null"].values, bins=30, color="0.8", label="permuted model")
        for key, colour in (("agreement", "C0"), ("ceiling", "C1"), ("chance", "0.4")):
            ax.axvline(result.attrs[key], color=colour, label=key)
        ax.set_xlabel("share of images where the model chooses as the human majority")
        ax.legend(frameon=False)
        return {"agreement": fig}


class ErrorConsistencyMetric(_ChoiceMetric):
    """Error consistency (Geirhos et al. 2020): Cohen's kappa of trial-by-trial errors.

    For each subject, over the stimuli it answered that have a correct answer: with ``p1``,
    ``p2`` the subject's and the model's accuracy, ``c_exp = p1 p2 + (1-p1)(1-p2)`` and
    ``c_obs`` the share where both are right or both wrong, ``kappa = (c_obs - c_exp) /
    (1 - c_exp)``; the headline is the mean over subjects. ``p_value``: the model's
    correctness permuted over stimuli (its accuracy kept); ``p_binomial`` per subject:
    ``Binomial(n, c_exp)`` tail of the observed agreements. ``ceiling``: mean kappa of
    every pair of subjects.
    """

    name = "error_consistency"

    def compute(self, ctx: MetricContext) -> xr.Dataset:
        """Compute kappa per subject, its mean, the human-human ceiling and p-values."""
        import xarray as xr

        b, choices, model = self.choices(ctx)
        t = b.targets
        if t is None or not (t >= 0).any():
            raise InputError("error consistency needs the correct answers (target)",
                             file=b.source or None, obj=self.name)
        mask = (choices >= 0) & (t >= 0)[None, :]
        human = choices == t[None, :]
        right = model == t
        per = [error_kappa(human[s, mask[s]], right[mask[s]]) for s in range(len(b.subjects))]
        kappa_s, c_obs, c_exp = (np.array(v, dtype=np.float64) for v in zip(*per, strict=True))
        if not np.isfinite(kappa_s).any():
            raise InputError("no errors to compare: the subjects or the model answer every "
                             "stimulus correctly", obj=self.name)
        observed = float(np.nanmean(kappa_s))
        perms = np.array([right[ctx.rng.permutation(right.size)]
                          for _ in range(self.n_permutations)]).reshape(-1, right.size)
        null = np.nanmean(kappa_matrix(human, mask, perms), axis=1) if len(perms) else perms
        n = mask.sum(axis=1)
        pairs = human_kappa_ceiling(human, mask)
        return xr.Dataset(
            {"kappa": ("subject", kappa_s), "c_obs": ("subject", c_obs),
             "c_exp": ("subject", c_exp), "n_trials": ("subject", n),
             "p_binomial": ("subject", [binomial_p(o, e, int(k)) for o, e, k in
                                        zip(c_obs, c_exp, n, strict=True)]),
             "model_correct": ("stimulus", right),
             "null": ("permutation", np.asarray(null, dtype=np.float64))},
            coords={"subject": list(b.subjects), "stimulus": list(b.stimulus_ids)},
            attrs={"kappa": observed,
                   "ceiling": float(np.nanmean(pairs)) if np.isfinite(pairs).any() else
                   float("nan"),
                   "p_value": permutation_p(observed, null) if len(perms) else float("nan"),
                   "model_accuracy": float(right[t >= 0].mean()),
                   "human_accuracy": float(human[mask].mean()),
                   "c_obs": float(np.nanmean(c_obs)), "c_exp": float(np.nanmean(c_exp)),
                   "n_subjects": len(b.subjects)})

    def figures(self, result: xr.Dataset) -> dict[str, Figure]:
        """Kappa per subject beside the human-human ceiling."""
        fig = _figure()
        ax = fig.subplots()
        k = result["kappa"].values
        ax.bar(np.arange(k.size), k, color="C0")
        ax.axhline(result.attrs["ceiling"], color="C1", label="human-human (ceiling)")
        ax.axhline(0, color="0.4", lw=0.8)
        ax.set_xlabel("subject")
        ax.set_ylabel("error consistency (kappa)")
        ax.legend(frameon=False)
        return {"error_consistency": fig}


class BehaviourRSAMetric:
    """RSA of the model's RDM against the subjects' behavioural RDMs, with noise ceiling.

    ``similarity`` = mean over subjects of the comparison (Spearman, Pearson or cosine, as
    ``rsatoolbox.rdm.compare``) of the model RDM with each subject's RDM (rsatoolbox's
    ``eval_fixed``); ``ceiling_lower`` / ``ceiling_upper``: each subject's RDM against the
    pool of the others / of all (rsatoolbox's ``boot_noise_ceiling``; computed by the
    ``nfd_rsa`` plugin's equal, faster code). ``p_value``: stimulus labels of the model RDM
    permuted.
    """

    name = "behaviour_rsa"

    def __init__(self, comparison: str = "spearman", model_rdm: str = "correlation",
                 n_permutations: int = 1000) -> None:
        if comparison not in RSA_COMPARISONS:
            raise InputError(f"comparison must be one of {', '.join(RSA_COMPARISONS)}, got "
                             f"{comparison!r}", obj=self.name)
        if model_rdm not in ("correlation", "euclidean"):
            raise InputError(f"model_rdm must be correlation or euclidean, got {model_rdm!r}",
                             obj=self.name)
        if n_permutations < 0:
            raise InputError("n_permutations must be >= 0", obj=self.name)
        self.comparison, self.model_rdm = comparison, model_rdm
        self.n_permutations = int(n_permutations)

    def compute(self, ctx: MetricContext) -> xr.Dataset:
        """Compute the similarity per subject, its mean, the noise ceiling and a p-value."""
        import xarray as xr
        from nfd_rsa import compare, noise_ceiling

        b, z = behaviour_latents(ctx, self.name)
        if b.rdms is None:
            raise InputError("the behaviour holds no RDMs (similarity judgements)",
                             file=b.source or None, obj=self.name)
        n = b.n_stimuli
        if n < 3:
            raise InputError(f"RSA needs >= 3 stimuli, got {n}", obj=self.name)
        iu = np.triu_indices(n, 1)
        model = model_rdm(z, self.model_rdm)
        data = b.rdms[:, iu[0], iu[1]]
        per = np.array([compare(model[iu], d, self.comparison) for d in data])
        observed = float(np.mean(per))
        low, up = (noise_ceiling(data, self.comparison) if len(data) >= 2
                   else (float("nan"), float("nan")))
        null = permuted_similarity(model, data, self.comparison,
                                   [ctx.rng.permutation(n) for _ in range(self.n_permutations)])
        return xr.Dataset(
            {"similarity_subject": ("subject", per, {"comparison": self.comparison}),
             "model_rdm": (("row", "col"), model),
             "behaviour_rdm": (("row", "col"), b.rdms.mean(axis=0)),
             "null": ("permutation", null)},
            coords={"subject": list(b.rdm_subjects) or list(range(len(data))),
                    "row": list(b.stimulus_ids), "col": list(b.stimulus_ids)},
            attrs={"similarity": observed, "ceiling_lower": float(low),
                   "ceiling_upper": float(up),
                   "normalized": observed / low if low > 0 else float("nan"),
                   "p_value": permutation_p(observed, null) if len(null) else float("nan"),
                   "n_stimuli": n,
                   "n_subjects": int(len(data))})

    def figures(self, result: xr.Dataset) -> dict[str, Figure]:
        """Draw the model and behavioural RDMs side by side."""
        fig = _figure(8, 3.6)
        for ax, key in zip(fig.subplots(1, 2), ("behaviour_rdm", "model_rdm"), strict=True):
            ax.imshow(result[key].values, cmap="viridis")
            ax.set_title(key.replace("_", " "))
            ax.set_xticks([])
            ax.set_yticks([])
        return {"rdms": fig}


def model_rdm(z: np.ndarray, method: str) -> np.ndarray:
    """Model RDM (stimulus, stimulus): correlation distance or squared Euclidean / units.

    Both as ``rsatoolbox.rdm.calc_rdm`` computes them (``correlation``, ``euclidean``).
    """
    if method == "correlation":
        c = z - z.mean(axis=1, keepdims=True)
        norm = np.sqrt((c**2).sum(axis=1))
        c = c / np.where(norm > 0, norm, 1.0)[:, None]
        d = 1 - c @ c.T
    else:
        sq = (z**2).sum(axis=1)
        d = np.maximum(sq[:, None] + sq[None, :] - 2 * z @ z.T, 0) / z.shape[1]
    np.fill_diagonal(d, 0)
    return d


def _transformed(v: np.ndarray, method: str) -> np.ndarray:
    """Rows turned so that a comparison is a dot product divided by the length."""
    from scipy.stats import rankdata

    x = rankdata(v, axis=-1) if method == "spearman" else np.asarray(v, dtype=np.float64)
    if method != "cosine":
        x = x - x.mean(axis=-1, keepdims=True)
    norm = np.sqrt((x**2).mean(axis=-1, keepdims=True))
    return x / np.where(norm > 0, norm, 1.0)


def permuted_similarity(model: np.ndarray, data: np.ndarray, method: str,
                        perms: list[np.ndarray]) -> np.ndarray:
    """Mean similarity over subjects of the model RDM with stimulus labels permuted.

    Spearman, Pearson and cosine are a dot product of transformed vectors divided by their
    length, and permuting the stimuli permutes the model RDM's entries (so its ranks), so the
    mean over subjects is one dot product with the mean transformed data vector.
    """
    n = model.shape[0]
    iu = np.triu_indices(n, 1)
    target = _transformed(data, method).mean(axis=0)
    scaled = np.zeros_like(model)
    scaled[iu] = _transformed(model[iu], method)
    scaled = scaled + scaled.T
    out = np.empty(len(perms))
    for k, p in enumerate(perms):
        out[k] = scaled[np.ix_(p, p)][iu] @ target / target.size
    return out


def _figure(width: float = 6, height: float = 3.6) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")
