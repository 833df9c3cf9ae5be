"""Responses from spike times: spike counts in a window after each stimulus onset."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from neurofacedis.nwb.session import DEFAULT_WINDOW

__all__ = ["count_responses", "repeat_numbers"]


def repeat_numbers(stimulus_index: np.ndarray, onsets: np.ndarray) -> np.ndarray:
    """Repeat number of each presentation: its rank by onset among its stimulus' presentations.

    Ties in onset keep the presentations' order.
    """
    stimulus_index = np.asarray(stimulus_index, dtype=np.int64)
    onsets = np.asarray(onsets, dtype=np.float64)
    n = stimulus_index.size
    order = np.lexsort((np.arange(n), onsets, stimulus_index))
    sorted_stim = stimulus_index[order]
    first = np.searchsorted(sorted_stim, sorted_stim, side="left")
    ranks = np.empty(n, dtype=np.int64)
    ranks[order] = np.arange(n) - first
    return ranks


def count_responses(
    spike_times: Sequence[np.ndarray],
    onsets: np.ndarray,
    stimulus_index: np.ndarray,
    n_stimuli: int,
    window: tuple[float, float] = DEFAULT_WINDOW,
    n_repeats: int | None = None,
) -> np.ndarray:
    """Count spikes with ``onset + w0 <= t < onset + w1`` for every presentation.

    Parameters
    ----------
    spike_times
        Per unit, sorted spike times (s).
    onsets
        Stimulus onset of each presentation (s).
    stimulus_index
        Stimulus (row of the stimulus set) of each presentation.
    n_stimuli
        Number of stimuli N.
    window
        (w0, w1) seconds after onset, half-open.
    n_repeats
        Size of the repeat axis (default: the most presentations of any stimulus).

    Returns
    -------
    numpy.ndarray
        float32 (N, U, R): repeats in presentation order per stimulus, NaN where a stimulus
        was shown fewer than R times.
    """
    onsets = np.asarray(onsets, dtype=np.float64)
    stimulus_index = np.asarray(stimulus_index, dtype=np.int64)
    reps = repeat_numbers(stimulus_index, onsets)
    n_rep = int(n_repeats if n_repeats is not None else (reps.max() + 1 if reps.size else 0))
    out = np.full((n_stimuli, len(spike_times), n_rep), np.nan, dtype=np.float32)
    lo, hi = onsets + float(window[0]), onsets + float(window[1])
    for u, st in enumerate(spike_times):
        st = np.asarray(st, dtype=np.float64)
        counts = np.searchsorted(st, hi, side="left") - np.searchsorted(st, lo, side="left")
        out[stimulus_index, u, reps] = counts
    return out
