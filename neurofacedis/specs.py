"""The plugin contract's data types.

Specs that registration hooks return, and the Protocols that models and metrics follow.

A plugin registers *specs* (what it offers, with typed parameters) through the hooks in
:mod:`neurofacedis.hookspecs`; the behaviour lives in objects that follow :class:`Model` and
:class:`Metric`. The core validates both (see :mod:`neurofacedis.registry`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from neurofacedis.errors import InputError

if TYPE_CHECKING:  # heavy imports only for type checkers
    import pandas as pd
    import xarray as xr

__all__ = [
    "Param",
    "ModelSpec",
    "MetricSpec",
    "DatasetSpec",
    "Model",
    "Metric",
    "MetricContext",
    "MetricMatrices",
    "ProgressCallback",
    "REQUIREMENTS",
    "RequirementSpec",
    "RequirementContext",
    "label_columns",
]

#: ``progress(advance, total=None, description=None)``: plugins call it to report work done.
ProgressCallback = Callable[..., None]

#: The built-in requirements a metric (or model) may declare; the runner skips it, saying why,
#: when unmet. Plugins add more with ``neurofacedis_register_requirements`` (a
#: :class:`RequirementSpec` each); :mod:`neurofacedis.requirements` holds the built-in checks.
REQUIREMENTS: Mapping[str, str] = {
    "repeats": "responses with at least 2 repeats per stimulus",
    "decoder": "a model with decode(latents) -> images",
    "factors": "known generative factors for every stimulus (e.g. the virtual face patch)",
    "seeds": "the same model fitted with several seeds (--seeds N, N >= 2)",
    "landmarks": "facial landmarks for every stimulus",
    "labels": "a label column (e.g. identity) in the stimulus table",
    "attributes": ("a labelled stimulus attribute: a label column (identity, view...) in the "
                   "stimulus table or known generative factors"),
    "models": "at least two models to compare",
    "units": "at least 2 active latent units (a collapsed fit keeps fewer)",
}

#: Stimulus-table columns that name files or rows, never labels (compared lower-case).
ID_COLUMNS = frozenset({"stimulus_id", "stimulus", "id", "index", "image", "file", "filename",
                        "path"})


def label_columns(stimuli: pd.DataFrame) -> list[Any]:
    """Columns of the stimulus table that label the stimuli (the ``attributes`` requirement).

    A float column labels when it is complete and not constant; any other column when it is
    complete and groups the stimuli (2 or more levels, fewer levels than stimuli). Columns
    named like IDs or files (:data:`ID_COLUMNS`) never do.
    """
    import pandas as pd

    out = []
    for col in stimuli.columns:
        s = stimuli[col]
        if str(col).lower() in ID_COLUMNS or s.isna().any():
            continue
        if pd.api.types.is_float_dtype(s):
            if np.ptp(s.to_numpy(dtype=np.float64)) > 0:
                out.append(col)
        elif 2 <= s.astype(str).nunique() < len(s):
            out.append(col)
    return out


@dataclass(frozen=True)
class Param:
    """One typed, documented parameter of a model or metric.

    ``type`` is one of ``int``, ``float``, ``str``, ``bool``; values given on the command line
    (``--param beta_vae.beta=4``) are parsed with it, and ``choices`` restricts them.
    """

    name: str
    default: Any
    type: type = float
    help: str = ""
    choices: Sequence[Any] | None = None

    def parse(self, text: str) -> Any:
        """Convert a command-line string to this parameter's type (checked against choices)."""
        if self.type is bool:
            low = text.strip().lower()
            if low in {"1", "true", "yes", "on"}:
                value: Any = True
            elif low in {"0", "false", "no", "off"}:
                value = False
            else:
                raise ValueError(f"{self.name}: expected true/false, got {text!r}")
        elif self.type is str:
            value = text
        else:
            try:
                value = self.type(text)
            except (TypeError, ValueError):
                raise ValueError(
                    f"{self.name}: expected {self.type.__name__}, got {text!r}"
                ) from None
        if self.choices is not None and value not in self.choices:
            raise ValueError(f"{self.name}: {value!r} is not one of {list(self.choices)}")
        return value


@dataclass(frozen=True)
class _PluginSpec:
    """What a model and a metric spec share: name, factory, parameters, citation, needs."""

    name: str
    factory: Callable[..., Any]
    params: tuple[Param, ...] = ()
    summary: str = ""
    citation: str = ""
    requires: frozenset[str] = frozenset()
    version: str = "0"
    #: Optional: small parameter values for the conformance kit (:mod:`neurofacedis.testing`)
    #: so heavy models run in seconds on its tiny mock data, e.g. ``{"epochs": 1}``.
    testing_params: Mapping[str, Any] = field(default_factory=dict, hash=False, compare=False)

    def defaults(self) -> dict[str, Any]:
        """Parameter defaults as a dict."""
        return {p.name: p.default for p in self.params}


@dataclass(frozen=True)
class ModelSpec(_PluginSpec):
    """A model a plugin offers.

    ``factory(**params)`` returns a fresh, unfitted object following :class:`Model`. ``version``
    goes into the cache key and the provenance: bump it when fitted results change.
    """


@dataclass(frozen=True)
class MetricSpec(_PluginSpec):
    """A metric a plugin offers. ``factory(**params)`` returns a :class:`Metric`."""


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset a plugin can produce.

    ``loader(dest: Path, **params) -> Path`` writes an NWB recording under ``dest`` (and
    nowhere else) and returns its path. ``params`` declares every keyword it takes: a
    manifest's ``generate: {dataset: NAME, params: {...}}`` is checked against them (names,
    types) before ``neurofacedis data fetch`` calls the loader on a folder it chose.
    """

    name: str
    loader: Callable[..., Path]
    params: tuple[Param, ...] = ()
    summary: str = ""
    citation: str = ""

    def defaults(self) -> dict[str, Any]:
        """Parameter defaults as a dict."""
        return {p.name: p.default for p in self.params}


@dataclass(frozen=True)
class RequirementContext:
    """What a requirement check sees: one fit of one model on one recording.

    Attributes
    ----------
    recording
        The :class:`~neurofacedis.nwb.Recording` (``n_repeats``, ``factors``, ``landmarks``,
        ``stimuli``, ``responses``...).
    model
        The fitted model object (e.g. for ``decode``), or None.
    model_name
        The model's registered name.
    latents, active
        The fit's latents (stimulus, unit) and its active-unit mask, or None.
    n_seeds
        Fits of the same model and parameters in this run (this one included).
    n_models
        Models (name and parameters) in this run.
    behaviour
        The human behaviour given with ``analyze(target="behaviour")``, or None.
    """

    recording: Any
    model: Any = None
    model_name: str = ""
    latents: np.ndarray | None = None
    active: np.ndarray | None = None
    n_seeds: int = 1
    n_models: int = 1
    behaviour: Any = None


@dataclass(frozen=True)
class RequirementSpec:
    """A requirement models and metrics may name in ``requires``.

    ``check(ctx: RequirementContext)`` returns None when the requirement is met; otherwise
    what is lacking (``""`` when the description says it all). The runner then skips the
    metric with the reason ``needs <description>[; <what is lacking>]``.
    """

    name: str
    description: str
    check: Callable[[RequirementContext], str | None]
    summary: str = ""


@runtime_checkable
class Model(Protocol):
    """What a model object does. Images are float32 in [0, 1], shape (n, H, W) or (n, H, W, 3).

    ``labels`` is the stimulus table (pandas DataFrame, one row per image: ``stimulus_id``,
    ``identity`` and any label/factor columns). ``landmarks`` is (n, L, 2) (x, y in pixels) or
    None. Optional methods: ``decode(latents) -> images`` (same layout as the input images)
    and ``active_units() -> bool array (k,)``; ``history`` (a dict of 1-d arrays, e.g. the loss
    curve) is stored with the results when present.
    """

    unit_names: list[str]

    def fit(
        self,
        images: np.ndarray,
        labels: pd.DataFrame | None,
        *,
        seed: int,
        progress: ProgressCallback,
        landmarks: np.ndarray | None = None,
    ) -> None:
        """Fit on training images; deterministic for a given seed on CPU."""

    def encode(self, images: np.ndarray, *, landmarks: np.ndarray | None = None) -> np.ndarray:
        """Return latents, float array of shape (n, k) with k = len(unit_names)."""

    def save(self, directory: Path) -> None:
        """Write the fitted state into an existing empty folder (safetensors + JSON, no pickle)."""

    def load(self, directory: Path) -> None:
        """Restore the fitted state written by :meth:`save` into this fresh instance."""


@runtime_checkable
class Metric(Protocol):
    """What a metric object does: ``compute(ctx)`` returns an ``xarray.Dataset``.

    The dataset's ``attrs`` hold the headline scalars (float or int) reported in summary.json.

    An optional ``figures(result) -> dict[str, matplotlib.figure.Figure]`` draws its plots.
    """

    def compute(self, ctx: MetricContext) -> xr.Dataset:
        """Compute the metric for one model on one recording."""


@dataclass
class MetricContext:
    """Everything a metric may use, for one model (and seed) on one recording.

    Attributes
    ----------
    responses
        DataArray (stimulus, neuron, repeat), NaN for a missing repeat.
    latents
        DataArray (stimulus, unit) for *active* units only (see ``all_latents``).
    train, test
        Integer indices of training and held-out stimuli (seeded split).
    images
        float32 images in [0, 1] as models see them, (stimulus, H, W[, 3]); loaded lazily.
    factors
        DataArray (stimulus, factor) of known generative factors, or None.
    model
        The fitted model object (for ``decode``), or None.
    sibling_latents
        Latents of the same model and parameters fitted with other seeds (for UDR), each a
        DataArray (stimulus, unit) of active units.
    rng
        A seeded numpy Generator; use it for every random choice.
    progress
        Progress callback for long loops.
    landmarks
        Facial landmarks (stimulus, points, 2) as x, y pixels of ``images``, or None when the
        recording has none (the runner passes the recording's in both executors).
    behaviour
        Human behaviour on the stimuli (:class:`~neurofacedis.nwb.Behaviour`: trials with
        choices/ratings per subject, targets, RDMs), given with ``analyze(target="behaviour")``;
        None otherwise. Map its stimuli onto the latents with ``behaviour.rows_in(ids)``.
    """

    responses: xr.DataArray
    latents: xr.DataArray
    train: np.ndarray
    test: np.ndarray
    model_name: str = ""
    seed: int = 0
    images: Callable[[], np.ndarray] | None = None
    factors: xr.DataArray | None = None
    model: Any = None
    all_latents: xr.DataArray | None = None
    sibling_latents: list[xr.DataArray] = field(default_factory=list)
    stimuli: pd.DataFrame | None = None
    rng: np.random.Generator = field(default_factory=lambda: np.random.default_rng(0))
    progress: ProgressCallback = field(default=lambda *a, **k: None)
    truth: Mapping[str, Any] | None = None
    #: Optional precomputed repeat mean of ``responses`` (stimulus, neuron): the runner computes
    #: it once, chunk by chunk, and shares it, so large recordings are not copied per metric.
    repeat_mean: xr.DataArray | None = None
    landmarks: np.ndarray | None = None
    behaviour: Any = None
    _matrices: tuple[tuple[Any, ...], MetricMatrices] | None = field(
        default=None, init=False, repr=False, compare=False)

    def matrices(self) -> MetricMatrices:
        """Return the data as oriented, checked, named arrays (computed once, then cached).

        Latents are (stimulus, unit) float64 and finite, responses (stimulus, neuron) repeat
        means, with unit, neuron and stimulus names; see :class:`MetricMatrices`. A metric
        uses these instead of transposing DataArrays and deriving names itself. The cache is
        rebuilt when a field it is built from is replaced (``ctx.latents = ...``).

        Raises
        ------
        InputError
            A DataArray has other dimensions than the contract's, the stimulus counts
            disagree, or the latents hold NaN or infinite values.
        """
        # the sources themselves (not their ids, which a new object may reuse), compared by `is`
        key = (self.responses, self.latents, self.all_latents, self.factors, self.repeat_mean,
               self.train, self.test, *self.sibling_latents)
        old = self._matrices
        if old is None or len(old[0]) != len(key) or any(
                a is not b for a, b in zip(old[0], key, strict=True)):
            self._matrices = (key, _build_matrices(self))
        return self._matrices[1]

    @property
    def mean_responses(self) -> xr.DataArray:
        """Responses averaged over repeats (NaN-aware), (stimulus, neuron)."""
        if self.repeat_mean is not None:
            return self.repeat_mean
        if "repeat" in self.responses.dims:
            return self.responses.mean("repeat", skipna=True)
        return self.responses

    @property
    def n_repeats(self) -> int:
        """Number of repeats (1 when the responses have no repeat axis)."""
        return int(self.responses.sizes.get("repeat", 1))

    def get_images(self) -> np.ndarray:
        """Load the images (float32 in [0, 1])."""
        if self.images is None:
            raise ValueError("this context has no images")
        return self.images()


@dataclass(frozen=True, eq=False)
class MetricMatrices:
    """The context's data as plain arrays, oriented and named once (``MetricContext.matrices``).

    Rows are stimuli in one order everywhere. Every array is a read-only view (or a fresh
    array): a metric cannot change the data other metrics see.

    Attributes
    ----------
    latents
        (n_stimuli, n_units) float64, finite: the *active* units.
    responses
        (n_stimuli, n_neurons) repeat mean (NaN-aware), in the recording's float precision
        (float32 or float64, not copied); NaN where a neuron has no response to a stimulus.
    trials
        (n_stimuli, n_neurons, n_repeats) responses per repeat (n_repeats = 1 without a repeat
        axis), NaN for a missing repeat; not copied.
    units, neurons
        Names (str) of the columns of ``latents`` and ``responses``.
    neuron_ids
        The responses' ``neuron`` coordinate as given (e.g. integer unit ids), else 0..n-1.
    stimuli
        The stimulus ids (the ``stimulus`` coordinate), else 0..n-1.
    train, test
        Row indices (int64) of the training and held-out stimuli.
    all_latents, all_units, active
        Every unit (active or not) as (n_stimuli, n_all) float64, their names, and the
        column of each active unit in ``all_latents`` (``all_latents[:, active] == latents``).
    factors, factor_names
        Known generative factors (n_stimuli, n_factors) float64 and their names, or None, ().
    siblings
        Active latents of the same model fitted with other seeds, each (n_stimuli, k) float64.
    """

    latents: np.ndarray
    responses: np.ndarray
    trials: np.ndarray
    units: tuple[str, ...]
    neurons: tuple[str, ...]
    neuron_ids: np.ndarray
    stimuli: np.ndarray
    train: np.ndarray
    test: np.ndarray
    all_latents: np.ndarray
    all_units: tuple[str, ...]
    active: np.ndarray
    factors: np.ndarray | None = None
    factor_names: tuple[str, ...] = ()
    siblings: tuple[np.ndarray, ...] = ()

    @property
    def n_stimuli(self) -> int:
        """Number of stimuli (rows)."""
        return int(self.latents.shape[0])


def _readonly(a: np.ndarray) -> np.ndarray:
    """Return a read-only view of ``a`` (``a`` itself keeps its flags)."""
    v = a.view()
    v.flags.writeable = False
    return v


def _oriented(da: xr.DataArray, dims: tuple[str, ...], what: str) -> np.ndarray:
    """Return the values of ``da`` ordered as ``dims`` (no copy), naming a wrong layout."""
    if set(da.dims) != set(dims):
        raise InputError(f"dimensions {tuple(da.dims)}, expected {dims}", obj=what)
    return np.asarray(da.transpose(*dims).values)


def _float64(da: xr.DataArray, what: str, n: int) -> np.ndarray:
    """Return (stimulus, unit) float64 values, checked finite with ``n`` rows."""
    z = np.asarray(_oriented(da, ("stimulus", "unit"), what), dtype=np.float64)
    if z.shape[0] != n:
        raise InputError(f"{z.shape[0]} rows for {n} stimuli", obj=what)
    if not np.isfinite(z).all():
        raise InputError("holds NaN or infinite values", obj=what)
    return _readonly(z)


def _names(da: xr.DataArray, dim: str, n: int, prefix: str) -> tuple[str, ...]:
    """Return the ``dim`` coordinate of ``da`` as str, else ``prefix0, prefix1...``."""
    if dim in da.coords:
        return tuple(str(v) for v in da.coords[dim].values)
    return tuple(f"{prefix}{i}" for i in range(n))


def _build_matrices(ctx: MetricContext) -> MetricMatrices:
    """Orient, check and name the context's arrays (see :class:`MetricMatrices`)."""
    resp = ctx.responses
    trials = _oriented(resp, ("stimulus", "neuron", "repeat")[: 3 if "repeat" in resp.dims
                                                              else 2], "responses")
    if trials.ndim == 2:
        trials = trials[:, :, None]
    mean = _oriented(ctx.mean_responses, ("stimulus", "neuron"), "mean responses")
    if not np.issubdtype(mean.dtype, np.floating):
        mean = mean.astype(np.float64)
    n, n_neurons = mean.shape
    if trials.shape[:2] != mean.shape:
        raise InputError(f"repeat mean {mean.shape} does not match responses "
                         f"{trials.shape[:2]}", obj="mean responses")
    latents = _float64(ctx.latents, "latents", n)
    full = ctx.all_latents if ctx.all_latents is not None else ctx.latents
    all_latents = _float64(full, "all_latents", n)
    units = _names(ctx.latents, "unit", latents.shape[1], "unit")
    all_units = _names(full, "unit", all_latents.shape[1], "unit")
    column: dict[str, int] = {}
    for i, u in enumerate(all_units):
        column.setdefault(u, i)
    if not set(units) <= column.keys():
        raise InputError("active units are not among all_latents' units", obj="latents")
    active = np.array([column[u] for u in units], dtype=np.int64)
    ids = (np.asarray(resp.coords["neuron"].values) if "neuron" in resp.coords
           else np.arange(n_neurons))
    neurons = _names(resp, "neuron", n_neurons, "neuron")
    stim_src = next((a for a in (resp, ctx.latents) if "stimulus" in a.coords), None)
    stimuli = (np.asarray(stim_src.coords["stimulus"].values) if stim_src is not None
               else np.arange(n))
    factors, factor_names = None, ()
    if ctx.factors is not None:
        factors = np.asarray(_oriented(ctx.factors, ("stimulus", "factor"), "factors"),
                             dtype=np.float64)
        if factors.shape[0] != n:
            raise InputError(f"{factors.shape[0]} factor rows for {n} stimuli", obj="factors")
        factors = _readonly(factors)
        factor_names = _names(ctx.factors, "factor", factors.shape[1], "factor")
    siblings = tuple(_float64(s, f"sibling_latents[{i}]", n)
                     for i, s in enumerate(ctx.sibling_latents))
    return MetricMatrices(
        latents=latents, responses=_readonly(mean), trials=_readonly(trials), units=units,
        neurons=neurons, neuron_ids=_readonly(ids), stimuli=_readonly(stimuli),
        train=_readonly(np.asarray(ctx.train, dtype=np.int64).reshape(-1)),
        test=_readonly(np.asarray(ctx.test, dtype=np.int64).reshape(-1)),
        all_latents=all_latents, all_units=all_units, active=_readonly(active),
        factors=factors, factor_names=factor_names, siblings=siblings,
    )
