"""Build the ndx-neurofacedis NWB extension: writes the namespace and extensions YAML.

Run ``python schemas/create_extension_spec.py [OUTDIR]`` after changing a type here; the
committed YAML must equal what this script writes (tests/test_nwb_schema.py checks it).
Layout and conventions follow nwb-extensions/ndx-template (src/spec/create_extension_spec.py).
"""

from __future__ import annotations

import sys
from pathlib import Path

from pynwb.spec import (
    NWBAttributeSpec,
    NWBDatasetSpec,
    NWBGroupSpec,
    NWBNamespaceBuilder,
    export_spec,
)

__all__ = ["NAME", "VERSION", "build_types", "main"]

NAME = "ndx-neurofacedis"
VERSION = "0.1.0"


def _text_vector(name: str, doc: str, quantity: int | str = 1) -> NWBDatasetSpec:
    return NWBDatasetSpec(
        name=name,
        neurodata_type_inc="VectorData",
        dtype="text",
        dims=["num_stimuli"],
        shape=[None],
        doc=doc,
        quantity=quantity,
    )


def build_types() -> list[NWBGroupSpec]:
    """Return the new data types, in the order they are written to the YAML."""
    stimulus_table = NWBGroupSpec(
        neurodata_type_def="StimulusTable",
        neurodata_type_inc="DynamicTable",
        default_name="stimulus_table",
        doc=(
            "One row per stimulus image, in the order of the images: stimulus id, identity, "
            "optional known generative factors (one float column each, named in "
            "factor_columns), optional landmarks and any other per-image label columns."
        ),
        datasets=[
            _text_vector("stimulus_id", "Unique id of each stimulus image."),
            _text_vector("identity", "Identity shown in each image ('' when unknown)."),
            NWBDatasetSpec(
                name="landmarks",
                neurodata_type_inc="VectorData",
                dtype="float32",
                dims=["num_stimuli", "num_landmarks", "x_y"],
                shape=[None, None, 2],
                doc="Facial landmarks per image, (x, y) in pixels.",
                quantity="?",
            ),
        ],
        attributes=[
            NWBAttributeSpec(
                name="factor_columns",
                dtype="text",
                dims=["num_factors"],
                shape=[None],
                doc="Names of the columns that hold known generative factors (not labels).",
                required=False,
            ),
            NWBAttributeSpec(
                name="source",
                dtype="text",
                doc="The recording these rows come from (identifier and sha256), in derived files.",
                required=False,
            ),
        ],
    )
    face_stimulus_set = NWBGroupSpec(
        neurodata_type_def="FaceStimulusSet",
        neurodata_type_inc="NWBDataInterface",
        default_name="stimulus_set",
        doc="The face images shown in a session, as one stacked array, plus their table.",
        datasets=[
            NWBDatasetSpec(
                name="images",
                dtype="uint8",
                dims=[
                    ["num_stimuli", "height", "width"],
                    ["num_stimuli", "height", "width", "rgb"],
                ],
                shape=[[None, None, None], [None, None, None, 3]],
                doc="Stimulus images, grayscale (N, H, W) or RGB (N, H, W, 3).",
            )
        ],
        groups=[
            NWBGroupSpec(
                name="stimulus_table",
                neurodata_type_inc="StimulusTable",
                doc="One row per image.",
            )
        ],
    )
    stimulus_responses = NWBGroupSpec(
        neurodata_type_def="StimulusResponses",
        neurodata_type_inc="NWBDataInterface",
        default_name="responses",
        doc=(
            "Processed responses of each neuron to each stimulus over repeats: spike counts "
            "(or rates) in a window after stimulus onset. NaN marks a missing repeat."
        ),
        datasets=[
            NWBDatasetSpec(
                name="data",
                dtype="float32",
                dims=["num_stimuli", "num_units", "num_repeats"],
                shape=[None, None, None],
                doc="Responses (stimuli, units, repeats); NaN = missing repeat.",
            ),
            NWBDatasetSpec(
                name="units",
                neurodata_type_inc="DynamicTableRegion",
                doc=(
                    "Rows of the Units table (or of the 'neurons' table in processing module "
                    "'neurofacedis' when the file has no spike times), one per response column."
                ),
            ),
        ],
        attributes=[
            NWBAttributeSpec(
                name="window_start",
                dtype="float64",
                doc="Start of the counting window after stimulus onset, in seconds.",
            ),
            NWBAttributeSpec(
                name="window_stop",
                dtype="float64",
                doc="End of the counting window after stimulus onset, in seconds.",
            ),
            NWBAttributeSpec(
                name="unit",
                dtype="text",
                doc="What one value is: 'spikes' (count in the window) or 'spikes/s'.",
            ),
        ],
    )
    model_latents = NWBGroupSpec(
        neurodata_type_def="ModelLatents",
        neurodata_type_inc="NWBDataInterface",
        doc="Latent units of one fitted model for every stimulus, with provenance.",
        datasets=[
            NWBDatasetSpec(
                name="data",
                dtype="float32",
                dims=["num_stimuli", "num_units"],
                shape=[None, None],
                doc="Latents (stimuli, units), rows in the order of the stimulus set.",
            ),
            NWBDatasetSpec(
                name="unit_names",
                dtype="text",
                dims=["num_units"],
                shape=[None],
                doc="Name of each latent unit.",
            ),
        ],
        attributes=[
            NWBAttributeSpec(name="model", dtype="text", doc="Model name, e.g. 'beta_vae'."),
            NWBAttributeSpec(name="plugin", dtype="text", doc="Plugin that provides the model."),
            NWBAttributeSpec(name="plugin_version", dtype="text", doc="Version of that plugin."),
            NWBAttributeSpec(name="parameters", dtype="text", doc="Model parameters, JSON."),
            NWBAttributeSpec(name="seed", dtype="int", doc="Random seed of the fit."),
            NWBAttributeSpec(
                name="training_images_sha256",
                dtype="text",
                doc="sha256 of the training images the model was fitted on.",
            ),
            NWBAttributeSpec(
                name="package_version", dtype="text", doc="neurofacedis version that wrote it."
            ),
            NWBAttributeSpec(name="created", dtype="text", doc="Creation time, ISO 8601."),
            NWBAttributeSpec(
                name="source",
                dtype="text",
                doc="The recording the latents were computed for (identifier and sha256).",
                required=False,
            ),
            NWBAttributeSpec(
                name="extra",
                dtype="text",
                doc="Further provenance, JSON.",
                required=False,
            ),
        ],
    )
    simulation_truth = NWBGroupSpec(
        neurodata_type_def="SimulationTruth",
        neurodata_type_inc="NWBDataInterface",
        default_name="truth",
        doc="Ground truth of a simulated population (the virtual face patch).",
        datasets=[
            NWBDatasetSpec(
                name="tuning_weights",
                dtype="float64",
                dims=["num_units", "num_factors"],
                shape=[None, None],
                doc="Weight of each generative factor in each unit's ramp tuning.",
            ),
            NWBDatasetSpec(
                name="factor_names",
                dtype="text",
                dims=["num_factors"],
                shape=[None],
                doc="Name of each factor (columns of tuning_weights).",
            ),
            NWBDatasetSpec(
                name="code",
                dtype="text",
                dims=["num_units"],
                shape=[None],
                doc="Per unit, 'axis' (tuned to one factor) or 'mixed' (rotated code).",
            ),
            NWBDatasetSpec(
                name="baseline",
                dtype="float64",
                dims=["num_units"],
                shape=[None],
                doc="Baseline firing rate of each unit, spikes/s.",
            ),
            NWBDatasetSpec(
                name="gain",
                dtype="float64",
                dims=["num_units"],
                shape=[None],
                doc="Gain of each unit's tuning, spikes/s per unit of drive.",
            ),
        ],
        attributes=[
            NWBAttributeSpec(name="parameters", dtype="text", doc="Simulation parameters, JSON."),
            NWBAttributeSpec(
                name="extra", dtype="text", doc="Further truth values, JSON.", required=False
            ),
        ],
    )
    return [stimulus_table, face_stimulus_set, stimulus_responses, model_latents, simulation_truth]


def main(output_dir: str | Path | None = None) -> Path:
    """Write the namespace and extensions YAML into ``output_dir`` (default: this folder)."""
    out = Path(output_dir) if output_dir is not None else Path(__file__).resolve().parent
    out.mkdir(parents=True, exist_ok=True)
    ns_builder = NWBNamespaceBuilder(
        name=NAME,
        version=VERSION,
        doc=(
            "NWB types of neurofacedis: face stimulus sets, stimulus-by-neuron responses, "
            "model latents with provenance, and simulated ground truth."
        ),
        author=["neurofacedis developers"],
        contact=["neurofacedis@users.noreply.github.com"],
    )
    for type_name in ("NWBDataInterface", "DynamicTable", "VectorData", "DynamicTableRegion"):
        ns_builder.include_type(type_name, namespace="core")
    export_spec(ns_builder, build_types(), str(out))
    return out / f"{NAME}.namespace.yaml"


if __name__ == "__main__":
    print(main(sys.argv[1] if len(sys.argv) > 1 else None))
