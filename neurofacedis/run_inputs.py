"""Kept importable for one release: see :mod:`neurofacedis.runner.inputs`.

New code imports a run's inputs from there.
"""

from __future__ import annotations

from neurofacedis.runner.inputs import (
    RunInputs,
    TrainingSet,
    annotations_sha256,
    load_image_source,
    load_inputs,
    load_responses,
    load_training_set,
    repeat_mean,
    split_stimuli,
    training_source_kind,
)

__all__ = [
    "split_stimuli", "TrainingSet", "training_source_kind", "load_training_set",
    "load_image_source", "RunInputs", "annotations_sha256", "load_inputs", "load_responses",
    "repeat_mean",
]
