"""Conformance kit for plugin authors: the checks the core applies, callable from your tests.

::

    from neurofacedis.testing import check_model, check_metric, make_registry
    import my_plugin

    def test_my_plugin():
        registry = make_registry(my_plugin)          # strict: any problem raises
        check_model(registry.model("my_model").spec)   # fit/encode/save/load/determinism
        check_metric(registry.metric("my_metric").spec)

Everything runs on a tiny seeded mock recording (parametric faces with known factors,
landmarks, identities and Poisson responses of axis-tuned model neurons), numpy only, so a
check takes seconds. Failures raise :class:`~neurofacedis.errors.PluginError` naming the
model or metric and what is wrong. Heavy models can declare small ``testing_params`` on their
spec (e.g. ``{"epochs": 1}``); the kit uses them over the defaults.
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from neurofacedis.errors import PluginError
from neurofacedis.registry import (
    Entry,
    PluginSource,
    Registry,
    _check_pending,
    _load_entry_points,
    check_latents,
    check_metric_result,
    expand_grid,
    new_plugin_manager,
    spec_problems,
)
from neurofacedis.specs import MetricContext, MetricSpec, ModelSpec

if TYPE_CHECKING:
    import pluggy
    import xarray as xr

    from neurofacedis.nwb.session import SessionData

__all__ = [
    "FACTOR_NAMES",
    "MockRecording",
    "make_mock_recording",
    "mock_images",
    "mock_responses",
    "make_mock_context",
    "make_plugin_manager",
    "make_registry",
    "check_model_spec",
    "check_metric_spec",
    "check_model",
    "check_metric",
]

#: The mock faces' generative factors, each uniform in [-1, 1].
FACTOR_NAMES: tuple[str, ...] = (
    "face_width",
    "face_height",
    "eye_spacing",
    "eye_size",
    "mouth_width",
    "brightness",
)
_IDENTITY_FACTORS = ("face_width", "face_height", "eye_spacing")  # fixed per identity
_N_LANDMARKS = 16


@dataclass
class MockRecording:
    """A tiny recording in memory: what a plugin sees, with the ground truth.

    Attributes
    ----------
    images
        float32 in [0, 1], (n, H, W) or (n, H, W, 3).
    stimulus_ids
        n unique strings.
    identity
        (n,) int identity labels; an identity keeps its face shape factors.
    factors
        DataFrame (n rows, :data:`FACTOR_NAMES` columns), values in [-1, 1].
    landmarks
        (n, 16, 2) float (x, y) pixels: 11 face outline points, 2 eye centres, 2 mouth
        corners, nose tip.
    responses
        float32 spike counts (n, neurons, repeats) of axis-tuned Poisson neurons.
    train, test
        Seeded split of stimulus indices (75 % / 25 %).
    truth
        ``tuning_weights`` (neurons, factors), ``factor_names``, ``code`` ("axis" per
        neuron), ``baseline``, ``gain``.
    """

    images: np.ndarray
    stimulus_ids: list[str]
    identity: np.ndarray
    factors: pd.DataFrame
    landmarks: np.ndarray
    responses: np.ndarray
    train: np.ndarray
    test: np.ndarray
    truth: dict[str, Any]
    seed: int = 0

    @property
    def labels(self) -> pd.DataFrame:
        """The stimulus table models get: stimulus_id, identity and the factor columns."""
        table = pd.DataFrame({"stimulus_id": self.stimulus_ids, "identity": self.identity})
        return pd.concat([table, self.factors.reset_index(drop=True)], axis=1)

    @property
    def mean_responses(self) -> np.ndarray:
        """Responses averaged over repeats, (n, neurons)."""
        return self.responses.mean(axis=2)

    def to_session(self) -> SessionData:
        """As :class:`~neurofacedis.nwb.session.SessionData` (uint8 images) for NWB writers."""
        from neurofacedis.nwb.session import SessionData, SessionMetadata

        return SessionData(
            images=np.round(self.images * 255).astype(np.uint8),
            stimulus_ids=list(self.stimulus_ids),
            metadata=SessionMetadata(
                identifier=f"neurofacedis-mock-{self.seed}",
                session_description="neurofacedis.testing mock recording",
                session_start_time=datetime(2020, 1, 1, tzinfo=timezone.utc),
                subject_id="mock",
                species="Macaca mulatta",
                age="P5Y",
            ),
            identity=self.identity.copy(),
            factors=self.factors.copy(),
            landmarks=self.landmarks.copy(),
            responses=self.responses.copy(),
            truth=dict(self.truth),
        )


def _sample_factors(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    n_ids = max(2, n // 4)
    identity = np.arange(n) % n_ids
    per_id = rng.uniform(-1, 1, size=(n_ids, len(_IDENTITY_FACTORS)))
    values = rng.uniform(-1, 1, size=(n, len(FACTOR_NAMES)))
    for j, name in enumerate(_IDENTITY_FACTORS):
        values[:, FACTOR_NAMES.index(name)] = per_id[identity, j]
    return values, identity


def _render(values: np.ndarray, size: int, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """Draw anti-aliased cartoon faces (ellipse, two eyes, a mouth) and their landmarks."""
    f = dict(zip(FACTOR_NAMES, values.T, strict=True))
    n = len(values)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64) + 0.5
    c = size / 2
    a = size * (0.30 + 0.05 * f["face_width"])[:, None, None]  # half width
    b = size * (0.38 + 0.05 * f["face_height"])[:, None, None]  # half height

    def soft(inside: np.ndarray, scale: np.ndarray | float) -> np.ndarray:
        return np.clip(0.5 + inside * scale, 0, 1)  # ~1-pixel anti-aliased edge

    r = np.sqrt(((xx - c) / a) ** 2 + ((yy - c) / b) ** 2)
    face = soft(1 - r, np.minimum(a, b))
    img = 0.1 + face * (0.6 + 0.2 * f["brightness"][:, None, None] - 0.1)
    ex = size * (0.14 + 0.04 * f["eye_spacing"])
    ey = c - 0.12 * size
    er = size * (0.055 + 0.02 * f["eye_size"])
    for sign in (-1, 1):
        d = np.sqrt((xx - (c + sign * ex[:, None, None])) ** 2 + (yy - ey) ** 2)
        img = img * (1 - soft(er[:, None, None] - d, 1.0) * 0.85)
    mw = size * (0.12 + 0.04 * f["mouth_width"])
    my = c + 0.2 * b[:, 0, 0]
    rm = np.sqrt(((xx - c) / mw[:, None, None]) ** 2 + ((yy - my[:, None, None]) / 1.2) ** 2)
    img = img * (1 - soft(1 - rm, 1.2) * 0.8)
    img = np.clip(img + rng.normal(0, 0.01, img.shape), 0, 1).astype(np.float32)

    angles = np.linspace(0.15 * np.pi, 0.85 * np.pi, 11)  # lower outline, cheek to cheek
    lm = np.zeros((n, _N_LANDMARKS, 2))
    lm[:, :11, 0] = c + a[:, 0, :1] * np.cos(angles)[None]
    lm[:, :11, 1] = c + b[:, 0, :1] * np.sin(angles)[None]
    lm[:, 11] = np.stack([c - ex, np.full(n, ey)], 1)
    lm[:, 12] = np.stack([c + ex, np.full(n, ey)], 1)
    lm[:, 13] = np.stack([c - mw, my], 1)
    lm[:, 14] = np.stack([c + mw, my], 1)
    lm[:, 15] = np.stack([np.full(n, c), np.full(n, c + 0.02 * size)], 1)
    return img, lm


def mock_images(
    n: int = 24, size: int = 32, *, rgb: bool = False, seed: int = 0
) -> tuple[np.ndarray, pd.DataFrame, np.ndarray, np.ndarray]:
    """Seeded cartoon faces: float32 images in [0, 1], factors, identities and landmarks.

    Returns
    -------
    images, factors, identity, landmarks
        (n, size, size[, 3]) float32; DataFrame of :data:`FACTOR_NAMES`; (n,) int;
        (n, 16, 2) float (x, y).
    """
    rng = np.random.default_rng(seed)
    values, identity = _sample_factors(n, rng)
    images, landmarks = _render(values, size, rng)
    if rgb:
        tint = np.array([1.0, 0.85, 0.75], dtype=np.float32)
        images = np.clip(images[..., None] * tint, 0, 1).astype(np.float32)
    return images, pd.DataFrame(values, columns=list(FACTOR_NAMES)), identity, landmarks


def mock_responses(
    factors: pd.DataFrame | np.ndarray, n_neurons: int = 8, n_repeats: int = 3, *, seed: int = 0
) -> tuple[np.ndarray, dict[str, Any]]:
    """Poisson spike counts of neurons ramp-tuned to one factor each (axis code).

    Neuron j follows factor ``j % F`` with a random sign: rate = baseline + gain·(1 ± f).

    Returns
    -------
    responses, truth
        float32 (n, n_neurons, n_repeats); ``tuning_weights`` (n_neurons, F), ``baseline``,
        ``gain``, ``factor_names``, ``code``.
    """
    F = np.asarray(factors, dtype=np.float64)
    rng = np.random.default_rng(seed + 1)
    n_factors = F.shape[1]
    weights = np.zeros((n_neurons, n_factors))
    signs = rng.choice([-1.0, 1.0], size=n_neurons)
    weights[np.arange(n_neurons), np.arange(n_neurons) % n_factors] = signs
    baseline = rng.uniform(1, 3, n_neurons)
    gain = rng.uniform(3, 6, n_neurons)
    rate = baseline + gain * (1 + F @ weights.T)  # >= baseline > 0 since |f| <= 1
    counts = rng.poisson(rate[:, :, None], size=(*rate.shape, n_repeats)).astype(np.float32)
    names = list(factors.columns) if isinstance(factors, pd.DataFrame) else []
    truth = {"tuning_weights": weights, "baseline": baseline, "gain": gain,
             "factor_names": names, "code": np.full(n_neurons, "axis")}
    return counts, truth


def make_mock_recording(
    n_stimuli: int = 24,
    n_neurons: int = 8,
    n_repeats: int = 3,
    size: int = 32,
    *,
    rgb: bool = False,
    seed: int = 0,
) -> MockRecording:
    """Build a tiny seeded :class:`MockRecording`: faces, factors, landmarks, responses."""
    images, factors, identity, landmarks = mock_images(n_stimuli, size, rgb=rgb, seed=seed)
    responses, truth = mock_responses(factors, n_neurons, n_repeats, seed=seed)
    order = np.random.default_rng(seed + 2).permutation(n_stimuli)
    n_train = max(1, int(round(0.75 * n_stimuli)))
    return MockRecording(
        images=images,
        stimulus_ids=[f"stim{i:04d}" for i in range(n_stimuli)],
        identity=identity,
        factors=factors,
        landmarks=landmarks,
        responses=responses,
        train=np.sort(order[:n_train]),
        test=np.sort(order[n_train:]),
        truth=truth,
        seed=seed,
    )


class _MockLinearModel:
    """A fitted stand-in model for metric checks: latents <-> pixels by least squares."""

    def __init__(self, images: np.ndarray, latents: np.ndarray, unit_names: list[str]):
        self.unit_names = list(unit_names)
        self._shape = images.shape[1:]
        X = images.reshape(len(images), -1).astype(np.float64)
        ones = np.ones((len(X), 1))
        self._dec = np.linalg.lstsq(np.hstack([latents, ones]), X, rcond=None)[0]
        self._enc = np.linalg.lstsq(np.hstack([X, ones]), latents, rcond=None)[0]

    def encode(self, images: np.ndarray, *, landmarks: np.ndarray | None = None) -> np.ndarray:
        X = np.asarray(images, dtype=np.float64).reshape(len(images), -1)
        return np.hstack([X, np.ones((len(X), 1))]) @ self._enc

    def decode(self, latents: np.ndarray) -> np.ndarray:
        Z = np.asarray(latents, dtype=np.float64)
        X = np.hstack([Z, np.ones((len(Z), 1))]) @ self._dec
        return np.clip(X, 0, 1).astype(np.float32).reshape((len(Z), *self._shape))

    def active_units(self) -> np.ndarray:
        return np.ones(len(self.unit_names), dtype=bool)


def make_mock_context(
    recording: MockRecording | None = None,
    *,
    latents: np.ndarray | None = None,
    unit_names: list[str] | None = None,
    n_siblings: int = 2,
    seed: int = 0,
    landmarks: np.ndarray | None = None,
) -> MetricContext:
    """Build a :class:`~neurofacedis.specs.MetricContext` that meets every requirement.

    ``landmarks`` (stimulus, points, 2) becomes the context's landmarks (default None; pass
    ``recording.landmarks`` for the mock faces' own).

    Default latents are the true factors plus a little noise (a disentangled model); the
    context has repeats, factors, landmarks, identity labels, a decoding model and
    ``n_siblings`` sibling latents (the same units permuted, sign-flipped, re-noised).
    """
    import xarray as xr

    rec = recording if recording is not None else make_mock_recording(seed=seed)
    rng = np.random.default_rng(seed + 3)
    if latents is None:
        latents = rec.factors.to_numpy() + rng.normal(0, 0.05, rec.factors.shape)
    latents = np.asarray(latents, dtype=np.float64)
    if unit_names is None:
        unit_names = [f"z{i}" for i in range(latents.shape[1])]
    stim = rec.stimulus_ids
    neurons = [f"n{j}" for j in range(rec.responses.shape[1])]

    def as_latents(z: np.ndarray, names: list[str]) -> xr.DataArray:
        return xr.DataArray(z, dims=("stimulus", "unit"), coords={"stimulus": stim, "unit": names})

    siblings = []
    for _ in range(n_siblings):
        perm = rng.permutation(latents.shape[1])
        flip = rng.choice([-1.0, 1.0], latents.shape[1])
        z = latents[:, perm] * flip + rng.normal(0, 0.05, latents.shape)
        siblings.append(as_latents(z, list(unit_names)))
    z_all = as_latents(latents, list(unit_names))
    responses = xr.DataArray(
        rec.responses,
        dims=("stimulus", "neuron", "repeat"),
        coords={"stimulus": stim, "neuron": neurons, "repeat": np.arange(rec.responses.shape[2])},
    )
    factors = xr.DataArray(
        rec.factors.to_numpy(),
        dims=("stimulus", "factor"),
        coords={"stimulus": stim, "factor": list(rec.factors.columns)},
    )
    images = rec.images
    return MetricContext(
        responses=responses,
        latents=z_all,
        train=rec.train.copy(),
        test=rec.test.copy(),
        model_name="mock",
        seed=seed,
        images=lambda: images,
        factors=factors,
        model=_MockLinearModel(images, latents, list(unit_names)),
        all_latents=z_all,
        sibling_latents=siblings,
        stimuli=rec.labels,
        rng=np.random.default_rng(seed),
        truth=rec.truth,
        landmarks=None if landmarks is None else np.asarray(landmarks, dtype=float),
    )


# --- plugin managers for tests ---------------------------------------------------------------


def make_plugin_manager(
    *plugins: object, entry_points: bool = False, strict: bool = True
) -> pluggy.PluginManager:
    """Build a fresh plugin manager: core, optionally the entry points, then ``plugins``.

    Each plugin (a module, class or object with ``@hookimpl`` functions) is registered under
    its ``__name__`` (or class name). Unlike :func:`neurofacedis.registry.get_plugin_manager`
    nothing is cached, so each test gets its own.
    """
    pm = new_plugin_manager(strict=strict)
    if entry_points:
        _load_entry_points(pm)
    for plugin in plugins:
        name = getattr(plugin, "__name__", None) or type(plugin).__name__
        pm.register(plugin, name=name)
        pm.sources[name] = PluginSource(name)
    _check_pending(pm)
    return pm


def make_registry(
    *plugins: object, entry_points: bool = False, strict: bool = True
) -> Registry:
    """Build the :class:`~neurofacedis.registry.Registry` of :func:`make_plugin_manager`.

    With ``strict`` (default) an invalid spec or duplicate name raises PluginError.
    """
    pm = make_plugin_manager(*plugins, entry_points=entry_points, strict=strict)
    return Registry.from_plugin_manager(pm, strict=strict)


# --- checks ----------------------------------------------------------------------------------


def _fail(entry: Entry, problem: str) -> PluginError:
    return PluginError(problem, obj=entry.label())


def check_model_spec(spec: ModelSpec) -> None:
    """Raise PluginError unless ``spec`` is a valid model spec with a citation."""
    _check_spec(spec, "model")


def check_metric_spec(spec: MetricSpec) -> None:
    """Raise PluginError unless ``spec`` is a valid metric spec with a citation."""
    _check_spec(spec, "metric")


def _check_spec(spec: Any, kind: str) -> None:
    problems = spec_problems(spec, kind)
    if not problems and not str(spec.citation).strip():
        problems = ["citation is empty: every plugin carries its citation"]
    if problems:
        raise PluginError("; ".join(problems), obj=f"{kind} {getattr(spec, 'name', '?')!r}")


def _resolve_params(spec: ModelSpec | MetricSpec, params: Mapping[str, Any] | None) -> dict:
    chosen = {**dict(spec.testing_params), **dict(params or {})}
    return expand_grid(spec, {k: [v] for k, v in chosen.items()})[0]


def _progress_recorder() -> tuple[list[tuple], Any]:
    calls: list[tuple] = []

    def progress(*args: Any, **kwargs: Any) -> None:
        calls.append((args, kwargs))

    return calls, progress


def check_model(
    spec: ModelSpec,
    params: Mapping[str, Any] | None = None,
    *,
    recording: MockRecording | None = None,
    seed: int = 0,
    atol: float = 1e-6,
    plugin: str = "",
) -> np.ndarray:
    """Run a model through everything the runner does and check each step.

    Checks: the spec; ``factory`` gives fresh objects; ``fit`` on the training images;
    ``encode`` gives finite (n, k) latents with k unique ``unit_names``; encoding a subset
    gives the same rows; ``active_units``, ``decode`` and ``history`` (when present) have the
    documented shapes; ``save`` → fresh object → ``load`` encodes identically; fitting again
    with the same seed gives the same latents (within ``atol`` × scale). A model that
    requires ``factors`` gets the mock factors of the images as ``factors=`` in ``fit`` and
    ``encode``, as the runner passes them.

    Parameters
    ----------
    spec
        The model spec (e.g. ``registry.model("pca").spec``).
    params
        Parameter values over the defaults and the spec's ``testing_params``.
    recording
        Data to use; default :func:`make_mock_recording` ``(seed=seed)``.

    Returns
    -------
    np.ndarray
        The latents of every mock stimulus, float64 (n, k).
    """
    check_model_spec(spec)
    entry = Entry("model", spec, plugin)
    rec = recording if recording is not None else make_mock_recording(seed=seed)
    kwargs = _resolve_params(spec, params)
    first, second = spec.factory(**kwargs), spec.factory(**kwargs)
    if first is second:
        raise _fail(entry, "factory returned the same object twice; it must build a fresh one")
    tr = rec.train
    labels = rec.labels.iloc[tr].reset_index(drop=True)

    def known(rows: Any = slice(None)) -> dict[str, Any]:
        """``factors=`` for models that require them (as the runner passes landmarks)."""
        if "factors" not in spec.requires:
            return {}
        return {"factors": rec.factors.iloc[rows].reset_index(drop=True)}

    def fit(model: Any) -> None:
        calls, progress = _progress_recorder()
        model.fit(rec.images[tr], labels, seed=seed, progress=progress,
                  landmarks=rec.landmarks[tr], **known(tr))

    fit(first)
    z = first.encode(rec.images, landmarks=rec.landmarks, **known())
    z = check_latents(entry, z, n_images=len(rec.images), unit_names=first.unit_names)
    k = z.shape[1]
    tol = atol * max(1.0, float(np.abs(z).max()))

    part = rec.test
    zp = check_latents(entry, first.encode(rec.images[part], landmarks=rec.landmarks[part],
                                           **known(part)),
                       n_images=len(part), unit_names=first.unit_names)
    if not np.allclose(zp, z[part], rtol=0, atol=tol):
        raise _fail(entry, "encoding a subset of images gives different latents than encoding "
                           "all (encode must treat each image on its own)")

    _check_optional(entry, first, k, z[part], rec.images[part])

    with tempfile.TemporaryDirectory(prefix="nfd-check-") as tmp:
        first.save(Path(tmp))
        loaded = spec.factory(**kwargs)
        loaded.load(Path(tmp))
        zl = loaded.encode(rec.images, landmarks=rec.landmarks, **known())
    zl = check_latents(entry, zl, n_images=len(rec.images), unit_names=loaded.unit_names)
    if list(loaded.unit_names) != list(first.unit_names):
        raise _fail(entry, "unit_names differ after save/load")
    if not np.array_equal(zl, z):
        raise _fail(entry, "save/load round trip changes the latents (max diff "
                           f"{float(np.abs(zl - z).max()):.3g}); "
                           + _contiguity_hint(first))

    fit(second)
    z2 = check_latents(entry, second.encode(rec.images, landmarks=rec.landmarks, **known()),
                       n_images=len(rec.images), unit_names=second.unit_names)
    if not np.allclose(z2, z, rtol=0, atol=tol):
        raise _fail(entry, f"fitting twice with seed {seed} gives different latents (max diff "
                           f"{float(np.abs(z2 - z).max()):.3g})")
    return z


def _check_optional(entry: Entry, first: Any, k: int, z_part: np.ndarray,
                    images: np.ndarray) -> None:
    """Check ``active_units``, ``decode`` (``z_part`` back to ``images``) and ``history``."""
    active = getattr(first, "active_units", None)
    if callable(active):
        a = np.asarray(active())
        if a.dtype != bool or a.shape != (k,):
            raise _fail(entry, f"active_units() must be a bool array of shape ({k},), got "
                               f"{a.dtype} {a.shape}")
    decode = getattr(first, "decode", None)
    if callable(decode):
        out = np.asarray(decode(z_part))
        if out.shape != images.shape or not np.isfinite(out).all():
            raise _fail(entry, f"decode returned shape {out.shape} (or non-finite values), "
                               f"expected {images.shape}")
    history = getattr(first, "history", None)
    if history is not None and (
        not isinstance(history, Mapping)
        or any(np.asarray(v).ndim != 1 for v in history.values())
    ):
        raise _fail(entry, "history must be a dict of 1-d arrays")


def _contiguity_hint(model: Any) -> str:
    """Say how a round trip most often breaks: safetensors and Fortran-ordered arrays.

    Why: safetensors writes an array's bytes as if it were C-ordered, so a Fortran-ordered
    one (sklearn's ``components_``, a transpose, many ``np.linalg`` results) loads scrambled,
    silently.
    The fitted model's array attributes (and dicts of arrays) in that order are named.
    """
    fortran = []
    for name, value in sorted(vars(model).items()):
        values = value.items() if isinstance(value, Mapping) else [("", value)]
        for key, arr in values:
            if isinstance(arr, np.ndarray) and arr.ndim > 1 and arr.flags.f_contiguous \
                    and not arr.flags.c_contiguous:
                fortran.append(f"{name}[{key!r}]" if key else name)
    found = f" (Fortran-ordered: {', '.join(fortran)})" if fortran else ""
    return ("if save writes safetensors, save contiguous arrays (np.ascontiguousarray): "
            f"it stores a Fortran-ordered array's bytes as if C-ordered{found}")


def check_metric(
    spec: MetricSpec,
    params: Mapping[str, Any] | None = None,
    *,
    ctx: MetricContext | None = None,
    seed: int = 0,
    plugin: str = "",
) -> xr.Dataset:
    """Run a metric on a mock context and check its result.

    Checks: the spec; ``compute`` returns an ``xarray.Dataset`` with at least one headline
    attribute, each a finite number; computing again with the same seeded context gives the
    same headline values; ``figures(result)`` (when present) returns named matplotlib figures.

    Parameters
    ----------
    spec
        The metric spec (e.g. ``registry.metric("alignment").spec``).
    params
        Parameter values over the defaults and the spec's ``testing_params``.
    ctx
        The context; default :func:`make_mock_context` ``(seed=seed)`` (meets every
        requirement).

    Returns
    -------
    xarray.Dataset
        The checked result.
    """
    check_metric_spec(spec)
    entry = Entry("metric", spec, plugin)
    kwargs = _resolve_params(spec, params)
    ctx = ctx if ctx is not None else make_mock_context(seed=seed)
    metric = spec.factory(**kwargs)
    result = metric.compute(dataclasses.replace(ctx, rng=np.random.default_rng(seed)))
    result = check_metric_result(entry, result)
    if not result.attrs:
        raise _fail(entry, "result has no headline scalars in attrs")
    again = spec.factory(**kwargs).compute(
        dataclasses.replace(ctx, rng=np.random.default_rng(seed))
    )
    again = check_metric_result(entry, again)
    a = np.array([float(result.attrs[k]) for k in result.attrs])
    b = np.array([float(again.attrs.get(k, np.nan)) for k in result.attrs])
    if set(again.attrs) != set(result.attrs) or not np.allclose(a, b, rtol=1e-9, atol=1e-12):
        raise _fail(entry, "computing twice with the same seed gives different headline values")

    figures = getattr(metric, "figures", None)
    if callable(figures):
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.figure import Figure

        figs = figures(result)
        try:
            if not isinstance(figs, Mapping) or not all(
                isinstance(k, str) and isinstance(f, Figure) for k, f in figs.items()
            ):
                raise _fail(entry, "figures(result) must return {name: matplotlib Figure}")
        finally:
            for f in (figs.values() if isinstance(figs, Mapping) else []):
                if isinstance(f, Figure):
                    plt.close(f)
    return result
