"""Write a :class:`~neurofacedis.nwb.session.SessionData` as one NWB file (atomically)."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from neurofacedis._util import file_sha256
from neurofacedis.errors import InputError
from neurofacedis.nwb._schema import (
    FaceStimulusSet,
    SimulationTruth,
    StimulusResponses,
    StimulusTable,
)
from neurofacedis.nwb.session import SessionData, SessionMetadata

__all__ = [
    "write_session",
    "file_sha256",
    "metadata_defaults",
    "DEFAULT_SPECIES",
    "DEFAULT_SUBJECT_ID",
    "DEFAULT_AGE",
    "DEFAULT_SPIKE_RESOLUTION",
    "MODULE",
]

#: Name of the processing module that holds the stimulus set, responses, latents and truth.
MODULE = "neurofacedis"
#: Written when the species is not given: NCBI taxonomy term for the order Primates.
DEFAULT_SPECIES = "http://purl.obolibrary.org/obo/NCBITaxon_9443"
DEFAULT_SUBJECT_ID = "unknown"
#: ISO 8601 open range "0 days or older": the age is unknown.
DEFAULT_AGE = "P0D/"
#: Spike-time resolution written when not given (a 30 kHz acquisition system).
DEFAULT_SPIKE_RESOLUTION = 1.0 / 30000.0

_PRES_REQUIRED = ("start_time", "stop_time", "stimulus_index")
_RESERVED_STIM_COLUMNS = {"id", "stimulus_id", "identity", "landmarks"}


def metadata_defaults(meta: SessionMetadata) -> list[str]:
    """Names of metadata fields left unset, which the writer fills with neutral defaults."""
    missing = []
    for name in ("session_start_time", "subject_id", "species", "age"):
        if getattr(meta, name) is None:
            missing.append(name)
    if meta.sex == "U":
        missing.append("sex")
    for name in ("lab", "institution", "brain_region"):
        if getattr(meta, name) is None:
            missing.append(name)
    if not meta.experimenter:
        missing.append("experimenter")
    return missing


def json_default(value: Any) -> Any:
    """JSON encoder fallback for numpy scalars/arrays and paths."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (Path, datetime)):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def to_json(value: Any) -> str:
    """Deterministic JSON text (sorted keys) accepting numpy values."""
    return json.dumps(value, sort_keys=True, default=json_default)


@contextmanager
def atomic_path(path: str | Path, *, overwrite: bool, suffix: str = ".nwb") -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success move it into place (os.replace).

    Nothing is left behind when the body raises, and an existing ``path`` is untouched. With
    ``overwrite`` only a regular file (or a link, which alone is replaced) is replaced, never
    a folder or a special file.
    """
    from neurofacedis._outputs import check_output_file

    path = Path(path)
    check_output_file(path, overwrite=overwrite, what="")
    if not path.parent.is_dir():
        raise InputError("folder does not exist", file=path.parent)
    from neurofacedis.cache import uninterrupted

    tmp = None
    try:
        with uninterrupted():  # no temporary file without the cleanup below
            fd, tmp_name = tempfile.mkstemp(
                prefix=f".{path.name}.tmp.", suffix=suffix, dir=path.parent
            )
            os.close(fd)
            tmp = Path(tmp_name)
        yield tmp
        with uninterrupted():
            os.replace(tmp, path)
    finally:
        if tmp is not None and tmp.exists():
            tmp.unlink()


def write_nwbfile(path: Path, nwbfile: Any) -> None:
    """Write an in-memory NWBFile to ``path`` with the extension spec cached."""
    from pynwb import NWBHDF5IO

    with NWBHDF5IO(str(path), mode="w") as io:
        io.write(nwbfile, cache_spec=True)


def write_session(path: str | Path, data: SessionData, *, overwrite: bool = False,
                  behaviour: Any = None) -> Path:
    """Write one session as an NWB file: stimuli, responses, spike times, truth.

    The file is written to a temporary name in the same folder and moved into place, so a
    failure never leaves a partial file. Unset subject metadata is filled with neutral
    defaults (see :func:`metadata_defaults`) because nwbinspector requires a subject.

    Parameters
    ----------
    path
        Output ``.nwb`` path.
    data
        The session; validated first (:class:`~neurofacedis.errors.InputError` on problems).
    overwrite
        Replace an existing file.
    behaviour
        Optional human behaviour on the stimuli (:class:`~neurofacedis.nwb.Behaviour`),
        written beside the neurons as plain pynwb objects (docs/data-model.md, "Behaviour").

    Returns
    -------
    Path
        ``path``.
    """
    path = Path(path)
    validate_session(data, file=path)
    nwbfile = build_nwbfile(data)
    if behaviour is not None:
        behaviour.add_to(nwbfile)  # plain pynwb objects (nwb/_behaviour.py)
    with atomic_path(path, overwrite=overwrite) as tmp:
        write_nwbfile(tmp, nwbfile)
    return path


# --- validation -----------------------------------------------------------------------------


def validate_session(data: SessionData, *, file: str | Path | None = None) -> None:
    """Check a SessionData for the problems that would make a broken file; raise InputError.

    One check per part: stimuli and their labels, responses, spike trains, presentations,
    units and simulator truth. A silent unit (no spikes) is written as it is: the reader
    selects units (:mod:`neurofacedis.nwb._units`).
    """

    def bad(obj: str, problem: str) -> InputError:
        return InputError(problem, file=file, obj=obj)

    n, ids = _check_stimuli(data, bad)
    _check_labels(data, n, bad)
    if data.responses is None and data.spike_times is None:
        raise bad("responses", "no neural data (neither responses nor spike times)")
    if data.response_unit not in ("spikes", "spikes/s"):
        raise bad("response_unit", f"must be 'spikes' or 'spikes/s', got {data.response_unit!r}")
    w0, w1 = (float(w) for w in data.window)
    if not (np.isfinite(w0) and np.isfinite(w1) and w1 > w0):
        raise bad("window", f"window must be (start, stop) with stop > start, got {data.window}")
    n_units = _check_responses(data, ids, bad)
    if data.spike_times is not None:
        n_units = _check_spike_trains(data, n_units, bad)
    if data.presentations is not None:
        _check_presentations(data.presentations, n, bad)
    if data.units is not None and n_units is not None and len(data.units) != n_units:
        raise bad("units", f"{len(data.units)} unit rows but {n_units} neurons")
    if data.truth is not None:
        tw = np.asarray(data.truth.get("tuning_weights"))
        if tw.ndim != 2 or (n_units is not None and tw.shape[0] != n_units):
            raise bad("truth/tuning_weights", f"expected ({n_units}, factors), got {tw.shape}")
        for key in ("factor_names", "code", "baseline", "gain"):
            if key not in data.truth:
                raise bad(f"truth/{key}", "missing")


_Bad = Callable[[str, str], InputError]


def _check_stimuli(data: SessionData, bad: _Bad) -> tuple[int, list]:
    """Check images (uint8, (N, H, W[, 3])) and N unique stimulus ids: ``(N, ids)``."""
    images = np.asarray(data.images)
    if images.ndim == 0 or images.shape[0] == 0:
        raise bad("images", "no stimuli")
    if images.dtype != np.uint8:
        raise bad("images", f"images must be uint8, got {images.dtype}")
    if not (images.ndim == 3 or (images.ndim == 4 and images.shape[-1] == 3)):
        raise bad("images", f"expected (N, H, W) or (N, H, W, 3), got shape {images.shape}")
    n = images.shape[0]
    ids = list(data.stimulus_ids)
    if len(ids) != n:
        raise bad("stimulus_ids", f"{len(ids)} stimulus ids for {n} images")
    if len(set(map(str, ids))) != n:
        raise bad("stimulus_ids", "stimulus ids are not unique")
    return n, ids


def _check_labels(data: SessionData, n: int, bad: _Bad) -> None:
    """Check identity, factors, labels and landmarks: one row per image, finite, no name clash."""
    if data.identity is not None and len(data.identity) != n:
        raise bad("identity", f"{len(data.identity)} identities for {n} images")
    for name, frame in (("factors", data.factors), ("labels", data.labels)):
        if frame is not None and len(frame) != n:
            raise bad(name, f"{len(frame)} rows for {n} images")
    if data.factors is not None:
        if not all(pd.api.types.is_numeric_dtype(t) for t in data.factors.dtypes):
            raise bad("factors", "factor columns must be numeric")
        if not np.isfinite(data.factors.to_numpy(dtype=float)).all():
            raise bad("factors", "non-finite factor values")
    names = list(data.factors.columns if data.factors is not None else []) + list(
        data.labels.columns if data.labels is not None else []
    )
    clash = sorted(
        {str(c) for c in names if str(c) in _RESERVED_STIM_COLUMNS or names.count(c) > 1}
    )
    if clash:
        raise bad("labels", f"column names clash: {', '.join(clash)}")
    if data.landmarks is not None:
        lm = np.asarray(data.landmarks)
        if lm.ndim != 3 or lm.shape[0] != n or lm.shape[2] != 2:
            raise bad("landmarks", f"expected ({n}, L, 2), got shape {lm.shape}")
        if not np.isfinite(lm).all():
            raise bad("landmarks", "non-finite landmark coordinates")


def _check_responses(data: SessionData, ids: list, bad: _Bad) -> int | None:
    """Check processed responses (stimuli, neurons[, repeats]); return the neuron count."""
    if data.responses is None:
        return None
    n = len(ids)
    resp = np.asarray(data.responses)
    if resp.ndim not in (2, 3):
        raise bad("responses", f"expected (stimuli, neurons[, repeats]), got shape {resp.shape}")
    if resp.shape[0] != n:
        raise bad("responses", f"{resp.shape[0]} response rows but {n} images")
    if resp.shape[1] == 0:
        raise bad("responses", "no neurons")
    if not np.isfinite(resp.sum()):  # fast path: a finite sum has no inf and no NaN
        if np.isinf(resp).any():
            raise bad("responses", "non-finite (infinite) responses")
        empty = np.isnan(resp.reshape(resp.shape[0], resp.shape[1], -1)).all(axis=2)
        if empty.any():
            s, u = (int(i[0]) for i in np.nonzero(empty))
            raise bad(
                "responses",
                f"stimulus {ids[s]!r}, neuron {u}: every repeat is NaN "
                "(NaN marks a missing repeat)",
            )
    return int(resp.shape[1])


def _check_spike_trains(data: SessionData, n_units: int | None, bad: _Bad) -> int:
    """Check spike trains: finite, non-negative, one per response column; presentations needed."""
    if len(data.spike_times) == 0:
        raise bad("units", "empty Units table (no spike trains)")
    if n_units is not None and len(data.spike_times) != n_units:
        raise bad("units", f"{len(data.spike_times)} spike trains but {n_units} response columns")
    for i, st in enumerate(data.spike_times):
        st = np.asarray(st, dtype=float)
        if st.ndim != 1 or not np.isfinite(st).all():
            raise bad(f"units/spike_times[{i}]", "spike times must be finite, 1-d")
        if st.size and st.min() < 0:
            raise bad(f"units/spike_times[{i}]", "negative spike time")
    if data.presentations is None:
        raise bad("presentations", "spike times given without presentation times")
    return len(data.spike_times)


def _check_presentations(pres: pd.DataFrame, n: int, bad: _Bad) -> None:
    """Check the presentation table: columns, in-range integer indices, finite times."""
    missing = [c for c in _PRES_REQUIRED if c not in pres.columns]
    if missing:
        raise bad("presentations", f"missing columns: {', '.join(missing)}")
    if len(pres) == 0:
        raise bad("presentations", "no presentations")
    idx = pres["stimulus_index"].to_numpy()
    if not np.issubdtype(idx.dtype, np.integer):
        raise bad("presentations/stimulus_index", "stimulus_index must be integer")
    if idx.min() < 0 or idx.max() >= n:
        bad_i = int(idx[(idx < 0) | (idx >= n)][0])
        raise bad("presentations/stimulus_index", f"index {bad_i} out of range for {n} stimuli")
    start = pres["start_time"].to_numpy(dtype=float)
    stop = pres["stop_time"].to_numpy(dtype=float)
    if not (np.isfinite(start).all() and np.isfinite(stop).all()):
        raise bad("presentations", "non-finite presentation times")
    if (stop < start).any():
        raise bad("presentations", "stop_time before start_time")


# --- building the NWBFile -------------------------------------------------------------------


def _column_data(series: pd.Series) -> Any:
    """Convert a pandas column to data hdmf can write (strings as a list of str)."""
    if pd.api.types.is_bool_dtype(series):
        return series.to_numpy(dtype=bool)
    if pd.api.types.is_numeric_dtype(series):
        return series.to_numpy()
    return [str(v) for v in series.tolist()]


def _vector(name: str, description: str, data: Any) -> Any:
    from hdmf.common import VectorData

    return VectorData(name=name, description=description, data=data)


def _ids(n: int | np.ndarray) -> Any:
    from hdmf.common import ElementIdentifiers

    data = np.arange(n, dtype=np.int64) if np.ndim(n) == 0 else np.asarray(n, dtype=np.int64)
    return ElementIdentifiers(name="id", data=data)


def _unit_ids(data: SessionData, n_units: int) -> np.ndarray:
    """Return unit ids: the units DataFrame's integer index when it has one, else 0..U-1."""
    if data.units is not None:
        index = data.units.index
        if (
            pd.api.types.is_integer_dtype(index)
            and index.is_unique
            and not index.equals(pd.RangeIndex(n_units))
        ):
            return index.to_numpy(dtype=np.int64)
    return np.arange(n_units, dtype=np.int64)


def build_stimulus_table(
    data: SessionData, name: str = "stimulus_table", source: str | None = None
) -> Any:
    """Build the StimulusTable for a session's images."""
    n = data.n_stimuli
    identity = (
        [str(v) for v in np.asarray(data.identity).tolist()]
        if data.identity is not None
        else [""] * n
    )
    columns = [
        _vector(
            "stimulus_id", "Unique id of each stimulus image.", [str(s) for s in data.stimulus_ids]
        ),
        _vector("identity", "Identity shown in each image ('' when unknown).", identity),
    ]
    if data.landmarks is not None:
        lm = np.asarray(data.landmarks, dtype=np.float32)
        columns.append(_vector("landmarks", "Facial landmarks per image, (x, y) in pixels.", lm))
    factor_names: list[str] = []
    if data.factors is not None:
        for col in data.factors.columns:
            factor_names.append(str(col))
            columns.append(
                _vector(
                    str(col),
                    f"factor: known generative factor '{col}'",
                    data.factors[col].to_numpy(dtype=np.float64),
                )
            )
    if data.labels is not None:
        for col in data.labels.columns:
            columns.append(
                _vector(str(col), f"label: per-image label '{col}'", _column_data(data.labels[col]))
            )
    return StimulusTable(
        name=name,
        description="One row per stimulus image, in image order.",
        id=_ids(n),
        columns=columns,
        factor_columns=factor_names or None,
        source=source,
    )


def _units_table(data: SessionData, n_units: int) -> Any:
    from pynwb.misc import Units

    spikes = [np.sort(np.asarray(st, dtype=np.float64)) for st in data.spike_times or []]
    from hdmf.common import ElementIdentifiers, VectorData, VectorIndex

    flat = np.concatenate(spikes) if spikes else np.empty(0)
    ends = np.cumsum([s.size for s in spikes]).astype(np.uint64)
    times = VectorData(name="spike_times", description="Spike times in seconds.", data=flat)
    units = Units(
        name="units",
        id=ElementIdentifiers(name="id", data=_unit_ids(data, n_units)),
        columns=[times, VectorIndex(name="spike_times_index", data=ends, target=times)],
        description="Sorted single units recorded while face images were shown.",
        resolution=float(data.spike_time_resolution or DEFAULT_SPIKE_RESOLUTION),
    )
    _add_unit_columns(units, data)
    return units


def _add_unit_columns(table: Any, data: SessionData) -> None:
    if data.units is not None:
        for col in data.units.columns:
            table.add_column(
                name=str(col),
                description=f"per-unit value '{col}'",
                data=_column_data(data.units[col]),
            )


def build_nwbfile(data: SessionData) -> Any:
    """Build the in-memory NWBFile for a (validated) session."""
    from hdmf.backends.hdf5 import H5DataIO
    from hdmf.common import DynamicTable, DynamicTableRegion
    from pynwb import NWBFile, ProcessingModule
    from pynwb.epoch import TimeIntervals
    from pynwb.file import Subject

    meta = data.metadata
    start = meta.session_start_time or datetime.now(timezone.utc)
    if start.tzinfo is None:
        start = start.replace(tzinfo=timezone.utc)
    nwbfile = NWBFile(
        session_description=meta.session_description,
        identifier=meta.identifier,
        session_start_time=start,
        experimenter=list(meta.experimenter) or None,
        lab=meta.lab,
        institution=meta.institution,
        keywords=list(meta.keywords) or None,
        related_publications=list(meta.related_publications) or None,
    )
    nwbfile.subject = Subject(
        subject_id=meta.subject_id or DEFAULT_SUBJECT_ID,
        species=meta.species or DEFAULT_SPECIES,
        sex=meta.sex or "U",
        age=meta.age or DEFAULT_AGE,
    )
    module = ProcessingModule(
        name=MODULE,
        description="neurofacedis: face stimulus set, responses, model latents, simulation truth.",
    )
    nwbfile.add_processing_module(module)

    images = np.ascontiguousarray(data.images)
    module.add(
        FaceStimulusSet(
            name="stimulus_set",
            images=H5DataIO(
                images, chunks=(1, *images.shape[1:]), compression="gzip", compression_opts=4
            ),
            stimulus_table=build_stimulus_table(data),
        )
    )

    n_units = (
        len(data.spike_times)
        if data.spike_times is not None
        else np.asarray(data.responses).shape[1]
    )
    if meta.brain_region:  # the recording site: an electrode group's location
        device = nwbfile.create_device(name="recording_device", description="Recording device.")
        nwbfile.create_electrode_group(
            name="recording_site",
            description="Where the units were recorded.",
            location=meta.brain_region,
            device=device,
        )
    if data.spike_times is not None:
        nwbfile.units = _units_table(data, n_units)
        target = nwbfile.units
    else:
        target = DynamicTable(
            name="neurons",
            description="One row per neuron (the file has no spike times).",
            id=_ids(_unit_ids(data, n_units)),
        )
        _add_unit_columns(target, data)
        module.add(target)

    if data.responses is not None:
        resp = np.asarray(data.responses, dtype=np.float32)
        if resp.ndim == 2:
            resp = resp[:, :, None]
        module.add(
            StimulusResponses(
                name="responses",
                data=H5DataIO(resp, chunks=response_chunks(resp.shape)),
                window_start=float(data.window[0]),
                window_stop=float(data.window[1]),
                unit=data.response_unit,
                units=DynamicTableRegion(
                    name="units",
                    data=np.arange(n_units, dtype=np.int64),
                    description="The neuron of each response column.",
                    table=target,
                ),
            )
        )

    if data.presentations is not None:
        nwbfile.add_time_intervals(_presentations(data.presentations, TimeIntervals))

    if data.truth is not None:
        module.add(_truth(data.truth))
    return nwbfile


def response_chunks(shape: tuple[int, ...], target_bytes: int = 1 << 20) -> tuple[int, int, int]:
    """Chunk shape for (stimuli, units, repeats) float32: ~1 MiB, 64 units wide.

    A slice of a few hundred neurons then reads only the chunk columns it touches, and a full
    read still moves large contiguous blocks.
    """
    n_stim, n_units, n_rep = (max(1, int(s)) for s in shape)
    cu = min(n_units, 64)
    cs = max(1, min(n_stim, target_bytes // (4 * cu * n_rep)))
    return (cs, cu, n_rep)


def _presentations(pres: pd.DataFrame, time_intervals_cls: Callable[..., Any]) -> Any:
    pres = pres.sort_values("start_time", kind="stable").reset_index(drop=True)
    if "repeat" not in pres.columns:
        pres = pres.assign(repeat=pres.groupby("stimulus_index").cumcount())
    descriptions = {
        "start_time": "Stimulus onset, seconds.",
        "stop_time": "Stimulus offset, seconds.",
        "stimulus_index": "Row of the stimulus set (processing/neurofacedis/stimulus_set).",
        "repeat": "Repeat number of this stimulus (0-based, in presentation order).",
    }
    columns = []
    for col in pres.columns:
        values = pres[col]
        if col in ("start_time", "stop_time"):
            data = values.to_numpy(dtype=np.float64)
        elif col in ("stimulus_index", "repeat"):
            data = values.to_numpy(dtype=np.int64)
        else:
            data = _column_data(values)
        columns.append(
            _vector(str(col), descriptions.get(col, f"per-presentation value '{col}'"), data)
        )
    return time_intervals_cls(
        name="presentations",
        description="Timed presentations of the stimulus images.",
        id=_ids(len(pres)),
        columns=columns,
    )


def _truth(truth: dict[str, Any]) -> Any:
    known = {"tuning_weights", "factor_names", "code", "baseline", "gain", "params"}
    extra = {k: v for k, v in truth.items() if k not in known}
    return SimulationTruth(
        name="truth",
        tuning_weights=np.asarray(truth["tuning_weights"], dtype=np.float64),
        factor_names=[str(f) for f in truth["factor_names"]],
        code=[str(c) for c in truth["code"]],
        baseline=np.asarray(truth["baseline"], dtype=np.float64),
        gain=np.asarray(truth["gain"], dtype=np.float64),
        parameters=to_json(truth.get("params", {})),
        extra=to_json(extra) if extra else None,
    )
