"""Virtual face patch: ramp-tuned model neurons, Poisson spike trains, spike counts."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from neurofacedis.errors import InputError
from neurofacedis.simulate._worlds import World, get_world

if TYPE_CHECKING:
    from neurofacedis.nwb.session import SessionData

__all__ = ["simulate_session", "demo_session", "count_spikes", "CITATION", "CODES"]

#: The neural codes :func:`simulate_session` draws (``code=``), each with a known answer.
CODES: dict[str, str] = {
    "axis": "ramp-tuned to single factors (a fraction axis_fraction; the rest mixed)",
    "mixed": "every neuron ramp-tuned to a random direction (rotation) of the factors",
    "null": "ramp-tuned to hidden random factors unrelated to the images",
}

#: What the simulated population follows (axis code) and what it was built to test.
CITATION = (
    "Chang L, Tsao DY (2017) The code for facial identity in the primate brain. Cell "
    "169:1013-1028, doi:10.1016/j.cell.2017.05.011; Higgins I et al. (2021) Unsupervised deep "
    "learning identifies semantic disentanglement in single inferotemporal face patch neurons. "
    "Nat Commun 12:6456, doi:10.1038/s41467-021-26751-5"
)

_OBJ = "simulate_session"
_RATE_MODEL = "max(0, baseline + gain * w . factors) Hz; factors uniform in [-1, 1]"


def _check(ok: bool, problem: str) -> None:
    if not ok:
        raise InputError(problem, obj=_OBJ)


def _check_range(name: str, rng: tuple[float, float]) -> tuple[float, float]:
    lo, hi = (float(v) for v in rng)
    _check(0.0 <= lo <= hi and np.isfinite(hi), f"{name} must be (low, high) with 0 <= low <= high")
    return lo, hi


def _tuning(
    rng: np.random.Generator, n_neurons: int, n_axis: int, n_factors: int
) -> tuple[np.ndarray, np.ndarray]:
    """Draw unit-norm tuning directions (U, F) and code labels.

    Axis units get one factor each (balanced over factors, random sign), mixed units a random
    direction in factor space.
    """
    weights = np.zeros((n_neurons, n_factors))
    n_perms = -(-n_axis // n_factors)
    perms = np.concatenate([rng.permutation(n_factors) for _ in range(n_perms)] + [[]]).astype(int)
    signs = rng.choice([-1.0, 1.0], size=n_axis)
    weights[np.arange(n_axis), perms[:n_axis]] = signs
    mixed = rng.standard_normal((n_neurons - n_axis, n_factors))
    weights[n_axis:] = mixed / np.linalg.norm(mixed, axis=1, keepdims=True)
    code = np.array(["axis"] * n_axis + ["mixed"] * (n_neurons - n_axis))
    order = rng.permutation(n_neurons)  # interleave axis and mixed units
    return weights[order], code[order]


def _spike_trains(
    rng: np.random.Generator,
    onsets: np.ndarray,
    rates: np.ndarray,
    spontaneous: np.ndarray,
    latency: np.ndarray,
    duration: float,
    t_end: float,
) -> list[np.ndarray]:
    """Draw Poisson spike trains, one sorted array per unit.

    Spontaneous spikes everywhere in [0, t_end), plus evoked spikes at ``rates``
    (presentations x units, Hz) in [onset + latency, onset + latency + duration).
    """
    n_units = rates.shape[1]
    evoked = rng.poisson(rates * duration)  # (P, U)
    flat = evoked.ravel()
    start = (onsets[:, None] + latency[None, :]).ravel()
    t_ev = np.repeat(start, flat) + rng.uniform(0.0, duration, size=int(flat.sum()))
    u_ev = np.repeat(np.tile(np.arange(n_units), len(onsets)), flat)
    n_sp = rng.poisson(spontaneous * t_end)
    t_sp = rng.uniform(0.0, t_end, size=int(n_sp.sum()))
    u_sp = np.repeat(np.arange(n_units), n_sp)
    times = np.concatenate([t_ev, t_sp])
    unit = np.concatenate([u_ev, u_sp])
    order = np.argsort(unit, kind="stable")
    bounds = np.concatenate([[0], np.cumsum(np.bincount(unit, minlength=n_units))])
    times = times[order]
    return [np.sort(times[bounds[u]:bounds[u + 1]]) for u in range(n_units)]


def count_spikes(
    spike_times: list[np.ndarray], starts: np.ndarray, window: tuple[float, float]
) -> np.ndarray:
    """Spikes per (presentation, unit) with ``start + window[0] <= t < start + window[1]``.

    The same half-open rule the NWB reader applies to a Units table.
    """
    lo, hi = starts + window[0], starts + window[1]
    out = np.empty((len(starts), len(spike_times)), dtype=np.int64)
    for u, st in enumerate(spike_times):
        out[:, u] = np.searchsorted(st, hi, "left") - np.searchsorted(st, lo, "left")
    return out


@dataclass(frozen=True)
class _Population:
    """The model neurons' truth: tuning directions, code labels, rates and latencies."""

    weights: np.ndarray
    code: np.ndarray
    baseline: np.ndarray
    gain: np.ndarray
    spontaneous: np.ndarray
    latency: np.ndarray


def _validate(world: str, sizes: dict[str, Any], axis_fraction: float,
              ranges: dict[str, tuple[float, float]], stimulus_duration: float, isi: float,
              factors: Sequence[str] | None,
              code: str = "axis") -> tuple[World, list[str], dict[str, Any]]:
    """Check the parameters; the world, its varying factors (canonical order), clean values."""
    _check(code in CODES, f"unknown code {code!r}; use one of {list(CODES)}")
    w = get_world(world)
    for name, val in sizes.items():
        if name == "seed":
            _check(int(val) == val and val >= 0, f"seed must be a whole number >= 0, got {val}")
        else:
            _check(int(val) == val and val >= 1, f"{name} must be a whole number >= 1, got {val}")
    clean: dict[str, Any] = {name: int(val) for name, val in sizes.items()}
    _check(0.0 <= axis_fraction <= 1.0, f"axis_fraction must lie in [0, 1], got {axis_fraction}")
    for name, rng in ranges.items():
        clean[name] = _check_range(name, rng)
    _check(stimulus_duration > 0 and isi >= 0, "stimulus_duration must be > 0 and isi >= 0")
    varying = list(w.default_factors) if factors is None else [str(f) for f in factors]
    unknown = sorted(set(varying) - set(w.factors))
    _check(not unknown, f"unknown factor(s) {unknown}; known: {list(w.factors)}"
           + ("" if w.name == "flat" else f" (world {w.name!r})"))
    _check(len(varying) >= 1 and len(set(varying)) == len(varying),
           "factors must name at least one factor, each once")
    return w, [f for f in w.factors if f in varying], clean


def _window(window: tuple[float, float] | None) -> tuple[float, float]:
    """Check the counting window (None: the NWB layer's ``DEFAULT_WINDOW``)."""
    from neurofacedis.nwb.session import DEFAULT_WINDOW

    w0, w1 = (float(x) for x in (DEFAULT_WINDOW if window is None else window))
    _check(0.0 <= w0 < w1, f"window must be (start, stop) with 0 <= start < stop, got {window}")
    return w0, w1


def _population(seed: np.random.SeedSequence, n_neurons: int, axis_fraction: float,
                n_factors: int, ranges: dict[str, tuple[float, float]],
                neural_code: str = "axis") -> _Population:
    """Draw the neurons (tuning, then baseline, gain, spontaneous rate, latency).

    ``neural_code`` "mixed" gives every neuron a mixed direction; "null" labels the units
    ``null`` (their directions then apply to hidden factors, see :func:`_drive`).
    """
    rng = np.random.default_rng(seed)
    n_axis = 0 if neural_code == "mixed" else int(round(axis_fraction * n_neurons))
    weights, code = _tuning(rng, n_neurons, n_axis, n_factors)
    if neural_code == "null":
        code = np.full(n_neurons, "null")
    baseline = rng.uniform(*ranges["baseline_rate"], n_neurons)
    gain = baseline * rng.uniform(*ranges["gain_fraction"], n_neurons)
    spont = rng.uniform(*ranges["spontaneous_rate"], n_neurons)
    lat = rng.uniform(*ranges["latency"], n_neurons)
    return _Population(weights, code, baseline, gain, spont, lat)


def _spiking(seeds: tuple[np.random.SeedSequence, np.random.SeedSequence], rates: np.ndarray,
             pop: _Population, n_repeats: int, stimulus_duration: float, isi: float,
             window: tuple[float, float]) -> tuple[list[np.ndarray], np.ndarray, pd.DataFrame]:
    """Shuffled presentations, Poisson spike trains, counted responses (N, U, R) float32."""
    n_stim, n_neurons = rates.shape
    rng = np.random.default_rng(seeds[0])
    order = np.concatenate([rng.permutation(n_stim) for _ in range(n_repeats)])
    repeat = np.repeat(np.arange(n_repeats), n_stim)
    onsets = 1.0 + np.arange(len(order)) * (stimulus_duration + isi)
    t_end = float(onsets[-1] + stimulus_duration + isi + 1.0)
    spikes = _spike_trains(np.random.default_rng(seeds[1]), onsets, rates[order],
                           pop.spontaneous, pop.latency, stimulus_duration, t_end)
    counts = count_spikes(spikes, onsets, window)
    responses = np.empty((n_stim, n_neurons, n_repeats), dtype=np.float32)
    responses[order, :, repeat] = counts
    presentations = pd.DataFrame({
        "start_time": onsets, "stop_time": onsets + stimulus_duration,
        "stimulus_index": order.astype(np.int64), "repeat": repeat.astype(np.int64),
    })
    return spikes, responses, presentations


def _coded(params: dict[str, Any], n_axis: int) -> str:
    """How the neurons code, for the session description."""
    code = params.get("code", "axis")
    return {"null": "null code: unrelated to the images",
            "mixed": "mixed code"}.get(code, f"{n_axis} axis-coded")


def _metadata(params: dict[str, Any], world: World, n_stim: int, n_axis: int) -> Any:
    """Build the session's NWB metadata; the identifier hashes every parameter."""
    from neurofacedis.nwb.session import SessionMetadata

    digest = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:8]
    seed = params["seed"]
    return SessionMetadata(
        identifier=f"virtual-face-patch-seed{seed}-{digest}",
        session_description=(
            f"Simulated virtual face patch (neurofacedis): {n_stim} {world.description} "
            f"({params['n_identities']} identities x {params['n_views']} views), "
            f"{params['n_neurons']} ramp-tuned model neurons ({_coded(params, n_axis)}), "
            f"{params['n_repeats']} repeats, seed {seed}."
        ),
        session_start_time=datetime(2017, 6, 1, tzinfo=timezone.utc),
        subject_id="virtual-face-patch",
        species="Macaca mulatta",
        age="P5Y",
        lab="neurofacedis (simulation)",
        brain_region="AM",
        keywords=["face patch", "simulation", "axis code", "virtual face patch"],
        related_publications=["doi:10.1016/j.cell.2017.05.011",
                              "doi:10.1038/s41467-021-26751-5"],
    )


def _drive(pop: _Population, table: pd.DataFrame, code: str,
           seed: np.random.SeedSequence) -> np.ndarray:
    """Evoked rates (stimuli, neurons) in Hz: ramps of the factors, or of hidden ones (null).

    Null neurons ramp along the same kind of directions over hidden factors drawn, like the
    real ones, uniform in [-1, 1] per stimulus but independently of the images: they respond
    reliably to each stimulus, and nothing in the image predicts how.
    """
    values = table.to_numpy()
    if code == "null":
        values = np.random.default_rng(seed).uniform(-1.0, 1.0, values.shape)
    return np.maximum(pop.baseline + pop.gain * (values @ pop.weights.T), 0.0)


def _truth(pop: _Population, varying: list[str], params: dict[str, Any],
           world: World) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Build the per-unit truth table and the session's truth dictionary.

    Null units carry zero tuning weights (nothing in the images drives them) and no
    preferred factor.
    """
    null = pop.code == "null"
    if null.any():
        pop = _Population(np.where(null[:, None], 0.0, pop.weights), pop.code, pop.baseline,
                          pop.gain, pop.spontaneous, pop.latency)
    preferred = np.array(varying)[np.argmax(np.abs(pop.weights), axis=1)]
    units = pd.DataFrame({
        "code": pop.code,
        "preferred_factor": np.where(null, "none", preferred) if null.any() else preferred,
        "baseline_rate": pop.baseline, "gain": pop.gain,
        "spontaneous_rate": pop.spontaneous, "latency": pop.latency,
        "location": np.full(len(pop.code), "AM (simulated)"),
    })
    truth = {
        "tuning_weights": pop.weights, "factor_names": varying, "code": pop.code,
        "baseline": pop.baseline, "gain": pop.gain, "spontaneous_rate": pop.spontaneous,
        "latency": pop.latency, "params": params, "citation": CITATION,
        **({} if world.name == "flat" else {"world": world.name,
                                            "landmark_names": list(world.landmark_names)}),
    }
    return units, truth


def _params(v: dict[str, Any], ranges: dict[str, Any], window: tuple[float, float],
            world: str, code: str, varying: list[str] | None, **scalars: Any) -> dict[str, Any]:
    """Return the session's parameters as stored in its truth (defaults left out)."""
    return {
        **{k: v[k] for k in ("n_identities", "n_views", "n_neurons", "n_repeats")},
        "axis_fraction": scalars["axis_fraction"], "image_size": scalars["image_size"],
        "rgb": scalars["rgb"], **{k: list(v[k]) for k in ranges},
        "stimulus_duration": scalars["stimulus_duration"], "isi": scalars["isi"],
        "window": list(window), "seed": v["seed"],
        **({} if varying is None else {"factors": varying}),
        **({} if world == "flat" else {"world": world}),
        **({} if code == "axis" else {"code": code}), "rate_model": _RATE_MODEL,
    }


def simulate_session(
    *,
    n_identities: int = 100,
    n_views: int = 8,
    n_neurons: int = 150,
    n_repeats: int = 5,
    axis_fraction: float = 0.8,
    image_size: int = 64,
    rgb: bool = False,
    baseline_rate: tuple[float, float] = (20.0, 40.0),
    gain_fraction: tuple[float, float] = (0.5, 0.9),
    spontaneous_rate: tuple[float, float] = (2.0, 6.0),
    latency: tuple[float, float] = (0.06, 0.12),
    stimulus_duration: float = 0.2,
    isi: float = 0.3,
    window: tuple[float, float] | None = None,
    factors: Sequence[str] | None = None,
    world: str = "flat",
    code: str = "axis",
    seed: int = 0,
) -> SessionData:
    """Simulate a face-patch recording with known ground truth (the virtual face patch).

    Faces of ``world`` (``n_identities`` identities x ``n_views`` views) are shown
    ``n_repeats`` times, each repeat a fresh random order, ``stimulus_duration`` on, ``isi``
    off. Each neuron ramps (Chang & Tsao 2017): its evoked rate is
    ``max(0, baseline + gain * w . factors)`` Hz with a unit-norm ``w`` that is one factor
    (axis code, a fraction ``axis_fraction`` of neurons) or a random mixture (rotated code);
    ``gain = baseline * gain_fraction``, so axis units stay linear. Evoked (Poisson) spikes
    fall in ``[onset + latency, onset + latency + stimulus_duration)``, spontaneous ones
    everywhere; responses are the spike counts in ``window`` after onset.

    Parameters
    ----------
    n_identities, n_views, n_neurons, n_repeats
        Sizes; stimuli = identities x views (identity-major order).
    axis_fraction
        Fraction of neurons with an axis (single-factor) code, in [0, 1].
    image_size, rgb
        Image side in pixels; colour or grey.
    baseline_rate, gain_fraction, spontaneous_rate, latency
        (low, high) ranges each neuron's value is drawn from, uniformly (Hz, ratio, Hz, s).
    stimulus_duration, isi, window
        Timing in seconds; ``window`` is the counting window after onset (None: the NWB
        layer's ``DEFAULT_WINDOW``, 50-350 ms).
    factors
        The factors that vary, from the world's factors (None: the world's defaults); the
        others stay at the average face and neurons are tuned only to these. Framing factors
        (flat world) are drawn after the others, which keep their values.
    world
        ``"flat"`` (cartoon faces, 12 factors), ``"framed"`` (plus framing: 16) or ``"3d"``
        (ray-cast heads, 18 factors, 68 landmarks); see docs/worlds.md.
    code
        The neural code, each with a known answer (:data:`CODES`): ``"axis"`` (default,
        as above), ``"mixed"`` (every neuron a random direction of the factors, whatever
        ``axis_fraction``: an axis-aligned model loses its alignment advantage, encoding
        stays) or ``"null"`` (ramps of hidden factors unrelated to the images: every metric
        at chance). The images and factors are the same for every code.
    seed
        Seeds everything: the same seed gives identical arrays.

    Returns
    -------
    SessionData
        With images, identities, factors, landmarks, ``labels`` (view), spike times,
        presentations, responses (N, U, R) float32 counts, ``units`` (per-unit truth columns)
        and ``truth`` (tuning_weights (U, F), factor_names, code, baseline, gain, params...;
        outside the flat world also ``world`` and ``landmark_names``).
    """
    ranges = {"baseline_rate": baseline_rate, "gain_fraction": gain_fraction,
              "spontaneous_rate": spontaneous_rate, "latency": latency}
    w, varying, v = _validate(world, {"n_identities": n_identities, "n_views": n_views,
                                      "n_neurons": n_neurons, "n_repeats": n_repeats,
                                      "seed": seed},
                              axis_fraction, ranges, stimulus_duration, isi, factors, code)
    from neurofacedis.nwb.session import SessionData  # here: no pynwb until a session is built

    w0, w1 = _window(window)
    params = _params(v, ranges, (w0, w1), w.name, code, varying if factors is not None else None,
                     axis_fraction=float(axis_fraction), image_size=int(image_size),
                     rgb=bool(rgb), stimulus_duration=float(stimulus_duration), isi=float(isi))
    # a fifth child for the null code's hidden factors: the first four are unchanged
    s_faces, s_units, s_order, s_spikes, s_hidden = np.random.SeedSequence(v["seed"]).spawn(5)
    table, identity = w.sample(v["n_identities"], v["n_views"], s_faces, varying)
    table = table[varying]  # the others are 0: the average face
    images, landmarks = w.render(table, image_size, rgb)
    pop = _population(s_units, v["n_neurons"], axis_fraction, len(varying), v, code)
    rates = _drive(pop, table, code, s_hidden)
    spikes, responses, presentations = _spiking((s_order, s_spikes), rates, pop,
                                                v["n_repeats"], stimulus_duration, isi,
                                                (w0, w1))
    units, truth = _truth(pop, varying, params, w)
    n_id, n_views_ = v["n_identities"], v["n_views"]
    return SessionData(
        images=images, metadata=_metadata(params, w, len(table), int((pop.code == "axis").sum())),
        stimulus_ids=[f"face{i:04d}_view{k:02d}" for i in range(n_id) for k in range(n_views_)],
        identity=identity, factors=table, landmarks=landmarks, units=units, truth=truth,
        labels=pd.DataFrame({"view": np.tile(np.arange(n_views_, dtype=np.int64), n_id)}),
        responses=responses, response_unit="spikes", window=(w0, w1), spike_times=spikes,
        presentations=presentations)


def demo_session(seed: int = 0, world: str = "flat") -> SessionData:
    """Simulate the session ``neurofacedis demo`` analyses.

    600 faces (75 identities x 8 views) of ``world``, 100 neurons (80% axis-coded), 5
    repeats, 64x64 grey.
    """
    return simulate_session(n_identities=75, n_views=8, n_neurons=100, n_repeats=5,
                            world=world, seed=seed)
