"""Model latents with provenance, and the runner's analysis.nwb (latents + result tables)."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from neurofacedis.errors import InputError
from neurofacedis.nwb._schema import ModelLatents
from neurofacedis.nwb._write import (
    DEFAULT_AGE,
    DEFAULT_SPECIES,
    DEFAULT_SUBJECT_ID,
    MODULE,
    SessionData,
    atomic_path,
    build_stimulus_table,
    to_json,
    write_nwbfile,
)

if TYPE_CHECKING:
    from neurofacedis.nwb._recording import Recording

__all__ = ["LatentsData", "write_analysis", "add_latents", "RESULTS_MODULE"]

#: Processing module of analysis.nwb that holds the result tables.
RESULTS_MODULE = "neurofacedis_results"

#: ModelLatents attributes that must be present and non-empty (``data validate`` checks them).
PROVENANCE_FIELDS = (
    "model",
    "plugin",
    "plugin_version",
    "parameters",
    "seed",
    "training_images_sha256",
    "package_version",
    "created",
)
_PROVENANCE = (*PROVENANCE_FIELDS, "source")


@dataclass
class LatentsData:
    """Latents of one fitted model for every stimulus, to be stored as ModelLatents.

    Attributes
    ----------
    name
        Object name in the file, e.g. ``"latents_pca_seed0"``.
    data
        (N, k) latents, rows in stimulus order.
    unit_names
        k unit names.
    provenance
        ``model`` (required), ``plugin``, ``plugin_version``, ``parameters`` (dict or JSON
        text), ``seed``, ``training_images_sha256``; ``package_version`` and ``created`` are
        filled in when absent. Other keys are kept as JSON in the ``extra`` attribute.
    """

    name: str
    data: np.ndarray
    unit_names: list[str]
    provenance: dict[str, Any] = field(default_factory=dict)


def _model_latents(item: LatentsData, n_stimuli: int, file: Path, source: str | None) -> Any:
    import neurofacedis

    obj = f"latents {item.name}"
    if not item.name or "/" in item.name:
        raise InputError("latents name must be non-empty without '/'", file=file, obj=obj)
    data = np.asarray(item.data, dtype=np.float32)
    if data.ndim != 2:
        raise InputError(f"expected (stimuli, units), got shape {data.shape}", file=file, obj=obj)
    if data.shape[0] != n_stimuli:
        raise InputError(f"{data.shape[0]} rows but {n_stimuli} stimuli", file=file, obj=obj)
    if len(item.unit_names) != data.shape[1]:
        raise InputError(
            f"{len(item.unit_names)} unit names for {data.shape[1]} units", file=file, obj=obj
        )
    if not np.isfinite(data).all():
        raise InputError("non-finite latents", file=file, obj=obj)
    prov = dict(item.provenance)
    if "model" not in prov:
        raise InputError("provenance has no 'model'", file=file, obj=obj)
    params = prov.get("parameters", {})
    extra = {k: v for k, v in prov.items() if k not in _PROVENANCE}
    return ModelLatents(
        name=item.name,
        data=data,
        unit_names=[str(u) for u in item.unit_names],
        model=str(prov["model"]),
        plugin=str(prov.get("plugin", "")),
        plugin_version=str(prov.get("plugin_version", "")),
        parameters=params if isinstance(params, str) else to_json(params),
        seed=int(prov.get("seed", -1)),
        training_images_sha256=str(prov.get("training_images_sha256", "")),
        package_version=str(prov.get("package_version", neurofacedis.__version__)),
        created=str(prov.get("created", datetime.now(timezone.utc).isoformat())),
        source=str(prov["source"]) if prov.get("source") else source,
        extra=to_json(extra) if extra else None,
    )


def _source_text(recording: Recording) -> str:
    return f"{recording.path.name} identifier={recording.identifier} sha256={recording.sha256()}"


def _results_table(name: str, frame: pd.DataFrame, file: Path) -> Any:
    from hdmf.common import DynamicTable, ElementIdentifiers, VectorData

    if len(frame) == 0:
        raise InputError("empty result table", file=file, obj=f"tables/{name}")
    if not isinstance(frame.index, pd.RangeIndex):
        frame = frame.reset_index()
    columns = []
    for col in frame.columns:
        series = frame[col]
        if pd.api.types.is_bool_dtype(series):
            values: Any = series.to_numpy(dtype=bool)
        elif pd.api.types.is_numeric_dtype(series):
            values = series.to_numpy()
        else:
            values = [str(v) for v in series.tolist()]
        columns.append(VectorData(name=str(col), description=f"result column '{col}'", data=values))
    return DynamicTable(
        name=name,
        description=f"neurofacedis result table '{name}'.",
        id=ElementIdentifiers(name="id", data=np.arange(len(frame), dtype=np.int64)),
        columns=columns,
    )


def write_analysis(
    path: str | Path,
    *,
    recording: Recording,
    latents: list[LatentsData],
    tables: dict[str, pd.DataFrame] | None = None,
    description: str = "",
) -> Path:
    """Write analysis.nwb: the source recording's name, its stimulus ids, latents and results.

    The file names the recording (identifier + sha256) in ``notes``, in the stimulus table's
    and every latents' ``source`` attribute; result tables go to processing module
    ``neurofacedis_results``. Written atomically; the recording is only read.
    """
    from pynwb import NWBFile, ProcessingModule
    from pynwb.file import Subject

    path = Path(path)
    if path.resolve() == recording.path.resolve():
        raise InputError("refusing to overwrite the source recording", file=path)
    source = _source_text(recording)
    meta = recording.metadata
    nwbfile = NWBFile(
        session_description=description
        or f"neurofacedis analysis of recording {recording.identifier}",
        identifier=f"{recording.identifier}-analysis-{datetime.now(timezone.utc):%Y%m%dT%H%M%S%f}",
        session_start_time=recording.session_start_time,
        notes=f"source recording: {source}",
        experimenter=meta.experimenter or None,
        lab=meta.lab,
        institution=meta.institution,
    )
    src_subject = recording.nwbfile.subject
    nwbfile.subject = Subject(
        subject_id=getattr(src_subject, "subject_id", None) or DEFAULT_SUBJECT_ID,
        species=getattr(src_subject, "species", None) or DEFAULT_SPECIES,
        sex=getattr(src_subject, "sex", None) or "U",
        age=getattr(src_subject, "age", None) or DEFAULT_AGE,
    )
    module = ProcessingModule(
        name=MODULE, description=f"Stimuli and model latents for recording {recording.identifier}."
    )
    nwbfile.add_processing_module(module)
    stimuli = recording.stimuli
    stub = SessionData(
        images=np.zeros((recording.n_stimuli, 1, 1), dtype=np.uint8),
        stimulus_ids=recording.stimulus_ids,
        metadata=meta,
        identity=np.asarray(stimuli["identity"].tolist(), dtype=object),
        factors=recording.factors,
        labels=stimuli.drop(columns=["stimulus_id", "identity"])
        if len(stimuli.columns) > 2
        else None,
    )
    module.add(build_stimulus_table(stub, name="stimuli", source=source))
    seen: set[str] = set()
    for item in latents:
        if item.name in seen or item.name == "stimuli":
            raise InputError("duplicate latents name", file=path, obj=f"latents {item.name}")
        seen.add(item.name)
        module.add(_model_latents(item, recording.n_stimuli, path, source))
    if tables:
        results = ProcessingModule(
            name=RESULTS_MODULE, description=f"neurofacedis results for {source}."
        )
        nwbfile.add_processing_module(results)
        for name, frame in tables.items():
            results.add(_results_table(name, frame, path))
    with atomic_path(path, overwrite=True) as tmp:
        write_nwbfile(tmp, nwbfile)
    return path


def add_latents(path: str | Path, latents: list[LatentsData]) -> None:
    """Append latents to an existing recording (HDF5) without risking it.

    The file is copied to a temporary file in the same folder, the latents are appended to the
    copy, and the copy replaces the original (os.replace); if anything fails the original is
    untouched. The whole read-copy-append-replace holds a lock on the recording (keyed by its
    resolved path), so two runs adding latents at once both end up in the file: the second
    waits, at most ``NEUROFACEDIS_LOCK_TIMEOUT`` seconds, then fails with one line.
    """
    from neurofacedis._outputs import output_lock

    path = Path(path)
    if path.is_dir():
        raise InputError("add_latents needs an HDF5 .nwb file, not a Zarr folder", file=path)
    with output_lock(path, doing="adding latents to"):
        _append_latents(path, latents)


def _append_latents(path: Path, latents: list[LatentsData]) -> None:
    from pynwb import NWBHDF5IO, ProcessingModule

    from neurofacedis.nwb._recording import Recording

    with Recording.open(path) as rec:
        n_stimuli = rec.n_stimuli
        source = _source_text(rec)
        existing = set(rec.latents)
    for item in latents:
        if item.name in existing:
            raise InputError("latents of this name already in the file", file=path, obj=item.name)
    objects = [_model_latents(item, n_stimuli, path, source) for item in latents]
    with atomic_path(path, overwrite=True) as tmp:
        shutil.copy2(path, tmp)
        with NWBHDF5IO(str(tmp), mode="a") as io:
            nwbfile = io.read()
            module = nwbfile.processing.get(MODULE)
            if module is None:
                module = ProcessingModule(name=MODULE, description="neurofacedis model latents.")
                nwbfile.add_processing_module(module)
            for obj in objects:
                if obj.name in module.data_interfaces:
                    raise InputError("name already used in the file", file=path, obj=obj.name)
                module.add(obj)
            io.write(nwbfile)
