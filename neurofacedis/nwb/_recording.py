"""Read a recording lazily: our own layout, or plain NWB written by any lab."""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from neurofacedis._util import first_line as _one_line_text
from neurofacedis._util import one_line as _one_line
from neurofacedis.errors import InputError, MissingDataError
from neurofacedis.nwb._lazy import (
    LazyImages,
    check_dataset,
    check_declared_size,
    dataset_kind,
    normalize_index,
    read_dataset,
    read_rows,
)
from neurofacedis.nwb._spikes import repeat_numbers
from neurofacedis.nwb._stimuli import StimulusSet, build_set, choose_set
from neurofacedis.nwb._units import UnitSelection, observed_mask, select_rows, select_units
from neurofacedis.nwb._write import MODULE, file_sha256
from neurofacedis.nwb.session import DEFAULT_WINDOW, SessionData, SessionMetadata

if TYPE_CHECKING:
    import xarray as xr

__all__ = ["Recording", "read_session", "open_nwb", "PRESENTATION_INDEX_COLUMNS"]

#: Columns of a trials / TimeIntervals table taken as "which stimulus", first match wins.
#: Integer columns index the stimulus set; text columns hold stimulus ids (image names) or,
#: for external image files, file names (as stored, base name or stem).
PRESENTATION_INDEX_COLUMNS: tuple[str, ...] = (
    "stimulus_index",
    "image_index",
    "stim_index",
    "stimulus_idx",
    "image_idx",
    "stim_idx",
    "stimulus_number",
    "image_number",
    "stimulus_id",
    "image_id",
    "image_name",
    "stimulus_name",
    "stimulus_file",
    "image_file",
    "stimulus_filename",
    "image_filename",
    "file_name",
    "filename",
    "image_path",
    "stimulus_path",
)

#: Presentation tables taken before any other, in this order around the IndexSeries.
_FIRST_TABLES = ("intervals/presentations", "intervals/trials")

_STACKED_PATH = f"processing/{MODULE}/stimulus_set"


def _str_list(values: Any, *, file: Path | None = None, obj: str | None = None) -> list[str]:
    """Read text values of a dataset, list or scalar through the one bounded reader."""
    if values is None:
        return []
    text = read_dataset(values, file=file or "", obj=obj or "", expect="text")
    return [str(v) for v in np.asarray(text, dtype=object).ravel()]


def _column_values(column: Any, *, file: Path | None = None, obj: str | None = None) -> np.ndarray:
    """Read a table column: numbers, or text as an object array of str."""
    return np.asarray(read_dataset(column.data, file=file or "", obj=obj or "", expect="value"))


def _json_object(text: Any, *, file: Path, obj: str) -> dict[str, Any]:
    """Parse a JSON attribute that must hold an object; one line naming it otherwise."""
    try:
        value = json.loads(str(text))
    except ValueError as exc:
        raise InputError(f"not valid JSON ({_one_line(exc)})", file=file, obj=obj) from None
    if not isinstance(value, dict):
        raise InputError(f"must be a JSON object, got {type(value).__name__}", file=file, obj=obj)
    return value


#: Typed datasets that may hold HDF5 object references (table columns, image orders).
_REFERENCE_TYPES = frozenset({"VectorData", "ImageReferences", "TimeSeriesReferenceVectorData"})


def _check_references(path: Path) -> None:
    """Refuse HDF5 object references where an NWB object expects values, before hdmf reads.

    Why: hdmf resolves references while it builds the file's objects; a reference where the
    schema expects numbers (e.g. a table's ids pointing at the table) takes it tens of
    seconds and gigabytes before it fails. Only metadata (dtypes, attributes) is looked at.
    """
    import h5py

    found: list[str] = []

    def visit(name: str, obj: Any) -> None:
        if found or not isinstance(obj, h5py.Dataset):
            return
        dtype = obj.dtype
        fields = [dtype.fields[k][0] for k in dtype.names] if dtype.names else [dtype]
        if not any(h5py.check_ref_dtype(f) is not None for f in fields):
            return
        kind = obj.attrs.get("neurodata_type")
        kind = kind.decode() if isinstance(kind, bytes) else kind
        if kind not in _REFERENCE_TYPES:
            found.append(name)

    try:
        with h5py.File(path, "r") as f:
            f.visititems(visit)
    except (OSError, RuntimeError, KeyError, ValueError) as exc:  # a damaged object header
        raise InputError(f"truncated or damaged HDF5 file ({_one_line(exc)})", file=path) from None
    if found:
        raise InputError(
            "holds HDF5 object references where values are expected (refused before reading)",
            file=path,
            obj=found[0],
        )


def _construct_error(exc: BaseException) -> tuple[str, str] | None:
    """(object path, reason) of an hdmf ConstructError: which object could not be built."""
    from hdmf.build.errors import ConstructError

    if not isinstance(exc, ConstructError) or len(exc.args) != 2:
        return None
    where = str(getattr(exc.args[0], "path", "") or "").removeprefix("root/") or "/"
    reason = str(exc.args[1]).replace("CustomClassGenerator.set_init.<locals>.__init__: ", "")
    reason = reason.replace(" object due to: ", ": ").replace("Could not construct", "cannot build")
    return where, reason


def open_nwb(path: str | Path, *, follow_links: bool = False) -> tuple[Any, Any]:
    """Open an NWB file (HDF5) or NWB Zarr folder read-only: ``(io, nwbfile)``.

    The path passes :func:`neurofacedis._inputs.check_input_path` (a regular file or a Zarr
    store, nothing else); a Zarr store's codecs are checked (no pickle) and links to other
    files are refused unless ``follow_links``.

    Raises :class:`~neurofacedis.errors.InputError` naming the file when it is missing, not
    HDF5/Zarr, truncated, in use by another program, linked to other files, or not NWB.
    """
    io, nwbfile, _ = _open_checked(path, follow_links=follow_links)
    return io, nwbfile


def _open_checked(path: str | Path, *, follow_links: bool) -> tuple[Any, Any, list[dict]]:
    """:func:`open_nwb`, also returning the linked files (``check_links``'s list)."""
    from neurofacedis._inputs import check_input_path, check_links, hdf5_open_error

    path = check_input_path(path, what="", folder="zarr")
    if path.is_dir():
        from hdmf_zarr.nwb import NWBZarrIO

        linked = check_links(path, follow_links=follow_links)  # codecs checked here too
        try:
            io = NWBZarrIO(str(path), mode="r")
        except Exception as exc:  # noqa: BLE001 - any failure means "not readable"
            raise InputError(
                f"not a readable NWB Zarr store ({_one_line(exc)})", file=path
            ) from None
    else:
        import h5py

        try:
            is_hdf5 = h5py.is_hdf5(path)
        except OSError as exc:
            raise hdf5_open_error(exc, path) from None
        if not is_hdf5:
            raise InputError("not an HDF5 file (NWB files are HDF5 or Zarr)", file=path)
        try:
            with h5py.File(path, "r"):
                pass
        except OSError as exc:
            raise hdf5_open_error(exc, path) from None
        linked = check_links(path, follow_links=follow_links)
        _check_references(path)  # before hdmf builds (and chokes on) misplaced references
        from pynwb import NWBHDF5IO

        try:
            io = NWBHDF5IO(str(path), mode="r")
        except Exception as exc:  # noqa: BLE001
            raise InputError(f"not a readable NWB file ({_one_line(exc)})", file=path) from None
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*[Ii]gnoring cached namespace.*")
            # checked by Recording, which names the region, its entry and the table
            warnings.filterwarnings("ignore", message="DynamicTableRegion values .* out of bounds")
            nwbfile = io.read()
    except Exception as exc:  # noqa: BLE001
        io.close()
        if "Pickle.decode is disabled" in str(exc):
            raise InputError(
                "holds pickled values (hdmf-zarr object references); pickle is never decoded",
                file=path,
            ) from None
        built = _construct_error(exc)
        if built is not None:
            raise InputError(_one_line_text(built[1]), file=path, obj=built[0]) from None
        raise InputError(f"not a readable NWB file ({_one_line(exc)})", file=path) from None
    return io, nwbfile, linked


@dataclass
class _Presentations:
    onsets: np.ndarray
    stops: np.ndarray
    stimulus_index: np.ndarray
    where: str  # NWB path, for messages


class Recording:
    """One recording session, read lazily from NWB (HDF5 ``.nwb`` or an NWB Zarr folder).

    Open with :meth:`open`; use as a context manager or call :meth:`close`. Images and
    responses are read only when asked for. Files written by :func:`write_session` and
    plain-pynwb files (Units + ``Images`` in stimulus_template + an IndexSeries or a
    trials/TimeIntervals table with a stimulus-index column) are both understood.
    """

    def __init__(
        self,
        path: Path,
        io: Any,
        nwbfile: Any,
        *,
        window: tuple[float, float] | None = None,
        index_column: str | None = None,
        images_name: str | None = None,
        units: str | None = None,
        min_rate: float | None = None,
        presentations: str | None = None,
        follow_links: bool = False,
        require_neurons: bool = True,
    ) -> None:
        self.path = path
        self._require_neurons = bool(require_neurons)
        self._no_neurons = False  # a behaviour-only file opened with require_neurons=False
        self._io = io
        self.nwbfile = nwbfile
        self._window_arg = None if window is None else (float(window[0]), float(window[1]))
        self._index_column = index_column
        self._images_name = images_name
        self._follow_links = follow_links
        self._plain: StimulusSet | None = None
        self._pres_name = presentations
        self._units_expr = units
        self._min_rate = _check_min_rate(min_rate, path)
        self._selection: UnitSelection | None = None
        self._rows: np.ndarray | None = None
        self._sha: str | None = None
        self._responses: xr.DataArray | None = None
        self._neuron_ids: np.ndarray | None = None
        self._stim_index: pd.Index | None = None
        self._module = nwbfile.processing.get(MODULE)
        self._find_stimuli()
        self._processed = self._find_typed("StimulusResponses", "responses")
        self._units = nwbfile.units if nwbfile.units is not None else None
        self._pres = self._find_presentations()
        self._check_structure()

    # --- opening ----------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        path: str | Path,
        *,
        window: tuple[float, float] | None = None,
        index_column: str | None = None,
        images_name: str | None = None,
        follow_links: bool = False,
        units: str | None = None,
        min_rate: float | None = None,
        stimuli: str | None = None,
        presentations: str | None = None,
        require_neurons: bool = True,
    ) -> Recording:
        """Open a recording lazily.

        Parameters
        ----------
        path
            ``.nwb`` (HDF5) file or NWB Zarr folder.
        window
            Spike-counting window (s after onset). When given and the file has spike times,
            responses are recounted from them instead of using processed responses.
        index_column
            Name of the presentation table column that says which stimulus was shown
            (default: the first of :data:`PRESENTATION_INDEX_COLUMNS` found).
        images_name
            Name of the ``Images`` container in stimulus_template when a plain file has
            several.
        follow_links
            Read links to other files (HDF5 external links, Zarr links) instead of refusing
            them; every linked file and its sha256 is then in :attr:`linked_files`; also lets
            an ImageSeries' ``external_file`` point outside the NWB file's folder.
        units
            Selection expression over the Units table's columns (``"quality == 'good'"``),
            see :mod:`neurofacedis.nwb._units`; never evaluated as Python.
        min_rate
            Drop units whose mean rate (Hz) inside the observed response windows is lower.
        stimuli
            Name of the stimulus set to use when the file holds several (``Images``,
            ``ImageSeries`` / ``OpticalSeries``); ``images_name`` is the older spelling.
        presentations
            Name of the presentation table (``intervals/NAME``) or IndexSeries
            (``stimulus/NAME``) to use when the file holds several.
        require_neurons
            False opens a file with stimuli but no neural data (no Units, no
            StimulusResponses: a behaviour-only file) as a recording of zero neurons
            (:attr:`has_neurons` False); True (the default) refuses it with
            :class:`~neurofacedis.errors.MissingDataError`.
        """
        path = Path(path)
        if window is not None and not float(window[1]) > float(window[0]):
            raise InputError(
                f"window must have stop > start, got {window}", file=path, obj="window"
            )
        io, nwbfile, linked = _open_checked(path, follow_links=follow_links)
        try:
            rec = cls(
                path, io, nwbfile, window=window, index_column=index_column,
                images_name=stimuli or images_name, units=units, min_rate=min_rate,
                presentations=presentations, follow_links=follow_links,
                require_neurons=require_neurons,
            )
        except BaseException:
            io.close()
            raise
        rec._linked_files = linked
        return rec

    @property
    def linked_files(self) -> list[dict[str, Any]]:
        """Files this recording reads besides itself: path, sha256, links.

        Links followed with ``follow_links``, and an ImageSeries' external image files
        (their sha256 computed on first access).
        """
        out = list(getattr(self, "_linked_files", []))
        if self._plain is not None and self._plain.files:
            if getattr(self, "_external_files", None) is None:
                self._external_files = [
                    {"path": str(path), "sha256": file_sha256(path),
                     "links": [f"{self._plain.where}/external_file -> {name}"]}
                    for path, name in self._plain.files
                ]
            out.extend(self._external_files)
        return out

    def close(self) -> None:
        """Close the underlying file."""
        if self._io is not None:
            self._io.close()
            self._io = None

    def __enter__(self) -> Recording:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"Recording({str(self.path)!r}, stimuli={self.n_stimuli}, neurons={self.n_neurons}, "
            f"repeats={self.n_repeats}, source={self.response_source!r})"
        )

    def _err(self, obj: str, problem: str) -> InputError:
        return InputError(problem, file=self.path, obj=obj)

    # --- the one bounded reader: every dataset read goes through read_dataset ---------------

    def _read(self, data: Any, obj: str, *, expect: str = "number", index: Any = None) -> Any:
        return read_dataset(data, file=self.path, obj=obj, expect=expect, index=index)

    def _floats(self, data: Any, obj: str, *, index: Any = None) -> np.ndarray:
        return np.asarray(self._read(data, obj, index=index), dtype=np.float64)

    def _ints(self, data: Any, obj: str, *, index: Any = None) -> np.ndarray:
        values = np.asarray(self._read(data, obj, index=index))
        if values.dtype.kind == "f" and not np.all(values == np.round(values)):
            raise self._err(obj, "must hold whole numbers")
        return values.astype(np.int64)

    # --- discovery --------------------------------------------------------------------------

    def _find_typed(self, neurodata_type: str, preferred: str) -> Any | None:
        if self._module is None:
            return None
        found = [
            obj
            for obj in self._module.data_interfaces.values()
            if getattr(obj, "neurodata_type", None) == neurodata_type
        ]
        for obj in found:
            if obj.name == preferred:
                return obj
        return found[0] if found else None

    def _find_stimuli(self) -> None:
        self._table = None
        self._images_container = None
        stacked = self._find_typed("FaceStimulusSet", "stimulus_set")
        if stacked is not None:
            self._stim_where = f"processing/{MODULE}/{stacked.name}"
            images = stacked.images
            where = f"{self._stim_where}/images"
            check_dataset(images, file=self.path, obj=where)
            if len(images.shape) in (3, 4) and images.shape[0] == 0:
                raise MissingDataError("no stimuli", file=self.path, obj=where)
            if len(images.shape) not in (3, 4):
                raise self._err(where, "no stimuli")
            self._images = LazyImages(stacked=images, file=self.path, where=where)
            self._table = stacked.stimulus_table
            self._check_table(self._table, f"{self._stim_where}/stimulus_table", images.shape[0])
            self._ids = _str_list(
                self._table["stimulus_id"].data,
                file=self.path,
                obj=f"{self._stim_where}/stimulus_table/stimulus_id",
            )
            self._check_unique_ids(f"{self._stim_where}/stimulus_table/stimulus_id")
            return
        where, obj = choose_set(self.nwbfile, self._images_name, file=self.path)
        found = build_set(where, obj, file=self.path, follow_links=self._follow_links)
        self._plain, self._images_container, self._stim_where = found, obj, where
        self._images, self._ids = found.images, found.ids
        self._check_unique_ids(where)

    def _check_table(self, table: Any, where: str, n_rows: int | None = None) -> None:
        """Check a table's declared sizes (nothing read) and, if given, its row count."""
        check_declared_size(table.id.data, file=self.path, obj=f"{where}/id")
        for column in table.columns:
            check_declared_size(column.data, file=self.path, obj=f"{where}/{column.name}")
        if n_rows is None:
            return
        rows = len(table.id)
        if rows != n_rows:
            raise self._err(where, f"{rows} table rows but {n_rows} images")
        targets = {id(getattr(c, "target", None)) for c in table.columns}
        for column in table.columns:
            if id(column) in targets:  # a ragged column's values: its index has the rows
                continue
            shape = getattr(column.data, "shape", None)
            length = int(shape[0]) if shape else len(column.data)
            if length != n_rows:
                raise self._err(f"{where}/{column.name}", f"{length} values for {n_rows} rows")

    def _check_unique_ids(self, where: str) -> None:
        seen: set[str] = set()
        for sid in self._ids:
            if sid in seen:
                raise self._err(where, f"duplicate stimulus id {sid!r} (ids must be unique)")
            seen.add(sid)

    def _presentation_candidates(self) -> dict[str, Any]:
        """NWB path -> each table or IndexSeries that says which stimulus was shown."""
        intervals = dict(self.nwbfile.intervals) if self.nwbfile.intervals else {}
        columns = (self._index_column,) if self._index_column else PRESENTATION_INDEX_COLUMNS
        out: dict[str, Any] = {}
        for name in sorted(intervals, key=lambda k: (k != "presentations", k != "trials", k)):
            if any(c in intervals[name].colnames for c in columns):
                out[f"intervals/{name}"] = intervals[name]
        if self._index_column is None and self._images_container is not None:
            for series in (self.nwbfile.stimulus or {}).values():
                if getattr(series, "neurodata_type", None) != "IndexSeries":
                    continue
                target = getattr(series, "indexed_images", None)
                if target is None:  # files written by older pynwb
                    target = getattr(series, "indexed_timeseries", None)
                if target is self._images_container:
                    out[f"stimulus/{series.name}"] = series
        return out

    def _find_presentations(self) -> _Presentations | None:
        found = self._presentation_candidates()
        listed = ", ".join(found) or "none"
        if self._pres_name is not None:
            hits = [w for w in found if self._pres_name in (w, w.rsplit("/", 1)[1])]
            if not hits:
                raise self._err("presentations", f"no presentation table or IndexSeries named "
                                f"{self._pres_name!r} (candidates: {listed})")
            return self._presentations_from(hits[0], found[hits[0]])
        if not found:
            if self._index_column is not None:
                raise self._err(
                    f"intervals/*/{self._index_column}", "no presentation table has this column"
                )
            return self._from_own_timing()
        series = [w for w in found if w.startswith("stimulus/")]
        others = [w for w in found if w not in series and w not in _FIRST_TABLES]
        for group in (["intervals/presentations"], series, ["intervals/trials"], others):
            group = [w for w in group if w in found]
            if len(group) == 1:
                return self._presentations_from(group[0], found[group[0]])
            if len(group) > 1:
                raise self._err(
                    "intervals",
                    f"several presentation tables ({listed}); choose one with `presentations`",
                )
        return None  # pragma: no cover - every candidate is in a group

    def _presentations_from(self, where: str, obj: Any) -> _Presentations:
        if where.startswith("stimulus/"):
            return self._from_index_series(obj)
        columns = (self._index_column,) if self._index_column else PRESENTATION_INDEX_COLUMNS
        return self._from_table(obj, columns)

    def _from_own_timing(self) -> _Presentations | None:
        """Frames of an ImageSeries in ``stimulus`` shown once each at its own timestamps."""
        series = self._images_container
        if self._plain is None or not self._stim_where.startswith("stimulus/"):
            return None
        if getattr(series, "neurodata_type", "") == "Images":
            return None
        where = self._stim_where
        n = len(self._ids)
        if series.timestamps is not None:
            onsets = self._floats(series.timestamps, f"{where}/timestamps")
        else:
            onsets = float(series.starting_time or 0.0) + np.arange(n) / float(series.rate)
        if onsets.size != n:
            raise self._err(f"{where}/timestamps", f"{onsets.size} timestamps for {n} frames")
        return self._checked(
            _Presentations(onsets, np.full(n, np.nan), np.arange(n, dtype=np.int64), where), n
        )

    def _from_table(self, table: Any, candidates: tuple[str, ...]) -> _Presentations | None:
        column = next((c for c in candidates if c in table.colnames), None)
        if column is None:
            return None
        where = f"intervals/{table.name}/{column}"
        self._check_table(table, f"intervals/{table.name}")
        values = _column_values(table[column], file=self.path, obj=where)
        n = len(self._ids)
        if values.dtype == object:  # stimulus ids / image names / file names
            lookup = self._plain.aliases if self._plain is not None else {
                sid: i for i, sid in enumerate(self._ids)
            }
            unknown = [v for v in values if v not in lookup]
            if unknown:
                raise self._err(where, f"unknown stimulus id {unknown[0]!r}")
            index = np.array([lookup[v] for v in values], dtype=np.int64)
        else:
            if values.dtype.kind == "f" and not np.all(values == np.round(values)):
                raise self._err(where, "stimulus index column is not integer")
            index = values.astype(np.int64)
        onsets = self._floats(table["start_time"].data, f"intervals/{table.name}/start_time")
        stops = (
            self._floats(table["stop_time"].data, f"intervals/{table.name}/stop_time")
            if "stop_time" in table.colnames
            else np.full(onsets.shape, np.nan)
        )
        pres = self._checked(_Presentations(onsets, stops, index, where), n)
        late = np.isfinite(stops) & (stops < onsets)
        if late.any():
            row = int(np.flatnonzero(late)[0])
            raise self._err(
                f"intervals/{table.name}/stop_time",
                f"row {row}: stop_time {stops[row]:g} before its start_time {onsets[row]:g}",
            )
        return pres

    def _from_index_series(self, series: Any) -> _Presentations:
        where = f"stimulus/{series.name}"
        index = self._ints(series.data, f"{where}/data")
        if series.timestamps is not None:
            onsets = self._floats(series.timestamps, f"{where}/timestamps")
        else:
            onsets = series.starting_time + np.arange(index.size) / float(series.rate)
        if onsets.shape != index.shape:
            raise self._err(where, f"{onsets.size} timestamps for {index.size} indices")
        return self._checked(
            _Presentations(onsets, np.full(onsets.shape, np.nan), index, where), len(self._ids)
        )

    def _checked(self, pres: _Presentations, n: int) -> _Presentations:
        if pres.stimulus_index.size == 0:
            raise self._err(pres.where, "no presentations")
        out = (pres.stimulus_index < 0) | (pres.stimulus_index >= n)
        if out.any():
            raise self._err(
                pres.where,
                f"stimulus index {int(pres.stimulus_index[out][0])} out of range for {n} stimuli",
            )
        if not np.isfinite(pres.onsets).all():
            raise self._err(pres.where, "non-finite presentation onsets")
        back = np.diff(pres.onsets) < 0
        if back.any():
            row = int(np.flatnonzero(back)[0]) + 1
            column = pres.where.rsplit("/", 1)[0] + "/start_time"
            if pres.where.startswith("stimulus/"):
                column = pres.where + "/timestamps"
            raise self._err(
                column,
                f"presentation times not in increasing order (row {row}: "
                f"{pres.onsets[row]:g} after {pres.onsets[row - 1]:g})",
            )
        return pres

    def _check_structure(self) -> None:
        n = len(self._ids)
        if self._processed is not None:
            where = f"processing/{MODULE}/{self._processed.name}"
            data = self._processed.data
            shape = data.shape
            if len(shape) != 3:
                raise self._err(
                    f"{where}/data", f"expected (stimuli, neurons, repeats), got {shape}"
                )
            check_dataset(data, file=self.path, obj=f"{where}/data")
            if shape[0] != n:
                raise self._err(f"{where}/data", f"{shape[0]} response rows but {n} images")
            if shape[1] == 0:
                raise self._err(f"{where}/data", "no neurons")
            region = getattr(self._processed, "units", None)
            if region is not None and len(region.data) != shape[1]:
                raise self._err(
                    f"{where}/units", f"{len(region.data)} units for {shape[1]} response columns"
                )
            if shape[2] == 0:
                raise self._err(f"{where}/data", "no repeats")
            w0, w1 = self._processed_window()
            if not (np.isfinite(w0) and np.isfinite(w1) and w1 > w0):
                raise self._err(
                    f"{where}/window_stop",
                    f"counting window must have stop > start, got ({w0:g}, {w1:g})",
                )
        spikes_present = self._units is not None and "spike_times" in self._units.colnames
        if spikes_present:
            self._check_table(self._units, "units")
            index = self._units["spike_times"]
            ends = self._ints(index.data, "units/spike_times_index")
            check_dataset(index.target.data, file=self.path, obj="units/spike_times")
            counts = np.diff(np.concatenate([[0], ends]))
            if (counts < 0).any() or (ends.size and ends[-1] > len(index.target.data)):
                raise self._err(
                    "units/spike_times_index", "index is not increasing or points past the data"
                )
        if self._processed is None:
            if self._units is None:
                self._no_neural_data()
                return
            if len(self._units.id) == 0:
                raise self._err("units", "empty Units table")
            if not spikes_present:
                raise self._err("units", "Units table has no spike_times")
            if self._pres is None:
                raise self._err(
                    "intervals",
                    "spike times but no presentation times (no presentations/trials table with "
                    "a stimulus-index column and no IndexSeries)",
                )
        if (
            self._window_arg is not None
            and not self.has_spike_times
            and self._processed is not None
        ):
            stored = self._processed_window()
            if not np.allclose(stored, self._window_arg):
                warnings.warn(
                    f"{self.path}: window {self._window_arg} ignored: no spike times to recount; "
                    f"using processed responses (window {stored})",
                    stacklevel=3,
                )
        self._check_neurons()

    def _no_neural_data(self) -> None:
        """No Units and no StimulusResponses: refuse, or (``require_neurons`` False) note it."""
        if self._require_neurons:
            raise MissingDataError(
                "no neural data (no Units table and no StimulusResponses); a behaviour-only "
                "file is analysed with `target` behaviour", file=self.path, obj="units")
        for name, value in (("units", self._units_expr), ("min_rate", self._min_rate)):
            if value is not None:
                raise self._err(name, "selects units; this file has no neural data")
        self._no_neurons = True

    def _region_rows(self) -> np.ndarray:
        """Rows of the table the responses' DynamicTableRegion points to, each checked."""
        region = self._processed.units
        where = f"processing/{MODULE}/{self._processed.name}/units"
        rows = self._ints(region.data, where)
        n = len(region.table.id)
        bad = (rows < 0) | (rows >= n)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise self._err(
                where,
                f"row index {int(rows[i])} (entry {i}) is outside table "
                f"{region.table.name!r} of {n} rows (indices run 0..{n - 1})",
            )
        return rows

    def _check_neurons(self) -> None:
        """Refuse neurons that cannot be told apart: the same unit id twice."""
        region = getattr(self._processed, "units", None) if self._processed is not None else None
        if self.response_source == "processed" and region is not None:
            rows = self._region_rows()
            where = f"processing/{MODULE}/{self._processed.name}/units"
            ids = self._ints(self._processed.units.table.id.data,
                             f"{self._processed.units.table.name}/id")[rows]
        elif self._units is not None:
            where, ids = "units/id", self._ints(self._units.id.data, "units/id")
        else:
            return
        uniq, first, counts = np.unique(ids, return_index=True, return_counts=True)
        if (counts > 1).any():
            dup = int(uniq[counts > 1][0])
            cols = np.flatnonzero(ids == dup)[:2].tolist()
            raise self._err(
                where,
                f"duplicate unit id {dup} (neurons {cols[0]} and {cols[1]}): per-neuron "
                "results would be ambiguous; give each unit its own id",
            )

    # --- identity and sizes -----------------------------------------------------------------

    @property
    def identifier(self) -> str:
        """The NWB file's identifier."""
        return str(self.nwbfile.identifier)

    @property
    def session_description(self) -> str:
        """The NWB file's session description."""
        return str(self.nwbfile.session_description)

    @property
    def session_start_time(self) -> Any:
        """Session start (timezone-aware datetime)."""
        return self.nwbfile.session_start_time

    @property
    def n_stimuli(self) -> int:
        """Number of stimulus images."""
        return len(self._ids)

    @property
    def has_neurons(self) -> bool:
        """Whether the file holds neural data (False: a behaviour-only file)."""
        return not self._no_neurons

    @property
    def has_processed(self) -> bool:
        """Whether the file holds processed StimulusResponses."""
        return self._processed is not None

    @property
    def has_spike_times(self) -> bool:
        """Whether responses can be counted from spike times (Units + presentation times)."""
        return (
            self._units is not None
            and "spike_times" in self._units.colnames
            and len(self._units.id) > 0
            and self._pres is not None
        )

    @property
    def response_source(self) -> str:
        """Where :attr:`responses` come from: "processed", "spike_times" or "none"."""
        if self._no_neurons:
            return "none"
        if self._processed is not None and (self._window_arg is None or not self.has_spike_times):
            return "processed"
        return "spike_times"

    @property
    def window(self) -> tuple[float, float]:
        """Counting window (s after onset) of :attr:`responses`."""
        if self.response_source == "processed":
            return self._processed_window()
        return self._window_arg or DEFAULT_WINDOW

    def _processed_window(self) -> tuple[float, float]:
        return (float(self._processed.window_start), float(self._processed.window_stop))

    @property
    def response_unit(self) -> str:
        """What a response value is: "spikes" (count in the window) or "spikes/s"."""
        if self._no_neurons:
            return ""
        if self.response_source == "processed":
            return str(self._processed.unit)
        return "spikes"

    @property
    def n_neurons(self) -> int:
        """Number of neurons (columns of :attr:`responses`)."""
        return int(self._kept_rows().size)

    @property
    def n_repeats(self) -> int:
        """Size of the repeat axis of :attr:`responses` (0 without neural data)."""
        if self._no_neurons:
            return 0
        if self.response_source == "processed":
            return int(self._processed.data.shape[2])
        reps = repeat_numbers(self._pres.stimulus_index, self._pres.onsets)
        return int(reps.max()) + 1

    @property
    def neuron_ids(self) -> np.ndarray:
        """Unit ids of the selected neurons, in response column order."""
        if self._neuron_ids is None:
            self._neuron_ids = self._all_ids()[self._kept_rows()]
        return self._neuron_ids.copy()

    def _all_ids(self) -> np.ndarray:
        """Return the unit id of every response column (processed) or Units row (spikes)."""
        if self._no_neurons:
            return np.zeros(0, dtype=np.int64)
        if self.response_source == "processed":
            region = getattr(self._processed, "units", None)
            if region is None:
                return np.arange(int(self._processed.data.shape[1]))
            rows = self._region_rows()
            return self._ints(region.table.id.data, f"{region.table.name}/id")[rows]
        return self._ints(self._units.id.data, "units/id")

    # --- unit selection (neurofacedis.nwb._units) --------------------------------------------

    @property
    def selection(self) -> UnitSelection:
        """Which units are analysed, which were dropped or flagged and why (computed once)."""
        if self._selection is None:
            self._selection = self._select()
            for line in self._selection.warnings():
                warnings.warn(f"{self.path}: {line}", UserWarning, stacklevel=2)
        return self._selection

    def _kept_rows(self) -> np.ndarray:
        if self._rows is None:
            ids = self._all_ids()
            self._rows = np.flatnonzero(np.isin(ids, self.selection.kept))
        return self._rows

    def _unit_frame(self, rows: np.ndarray | None = None) -> pd.DataFrame | None:
        """Per-unit columns of the Units (or region's) table, indexed by unit id."""
        table = self._processed.units.table if self.response_source == "processed" else self._units
        if table is None:
            return None
        skip = {"spike_times", "electrode_group", "electrodes", "waveforms", "obs_intervals"}
        skip |= self._not_labels(table)
        columns: dict[str, Any] = {}
        for name in table.colnames:
            column = table[name]
            if name in skip or getattr(column, "neurodata_type", "") == "VectorIndex":
                continue
            values = _column_values(column, file=self.path, obj=f"{table.name}/{name}")
            if values.ndim == 1:
                columns[name] = list(values) if values.dtype == object else values
        index = pd.Index(self._ints(table.id.data, f"{table.name}/id"), name="id")
        frame = pd.DataFrame(columns, index=index)
        return frame if rows is None else frame.iloc[rows]

    def _chosen(self, ids: np.ndarray) -> np.ndarray | None:
        """Return the ``units=`` expression's verdict per unit (in ``ids`` order), or None."""
        if self._units_expr is None:
            return None
        frame = self._unit_frame()
        if frame is None:
            raise self._err("units", "units= needs a Units table to select from")
        mask = pd.Series(select_rows(frame, self._units_expr, file=self.path), index=frame.index)
        return mask.reindex(ids).fillna(False).to_numpy(dtype=bool)

    def _select(self) -> UnitSelection:
        if self._no_neurons:
            return UnitSelection([])
        ids = self._all_ids()
        chosen = self._chosen(ids)
        if self.response_source == "processed":
            if self._min_rate is not None:
                raise self._err("min_rate", "needs spike times; this file's responses are "
                                "processed (StimulusResponses) only")
            keep = np.ones(ids.size, bool) if chosen is None else chosen
            dropped = {int(u): f"not selected by units={self._units_expr!r}" for u in ids[~keep]}
            sel = UnitSelection([int(u) for u in ids[keep]], dropped, {}, self._units_expr)
        else:
            counts = self._presentation_counts(np.arange(ids.size))
            observed = observed_mask(self._obs_intervals(), self._pres.onsets, self.window)
            sel = select_units(
                ids, counts, observed, self._pres.stimulus_index, self.n_stimuli, self.window,
                chosen=chosen, expression=self._units_expr, min_rate=self._min_rate,
                stimulus_ids=self._ids,
            )
        if not sel.kept:
            first = next(iter(sel.dropped.items()))
            raise self._err(
                "units", f"no unit left to analyse ({len(sel.dropped)} dropped; "
                f"unit {first[0]}: {first[1]})",
            )
        return sel

    def _presentation_counts(self, rows: np.ndarray) -> np.ndarray:
        """(len(rows), P) spikes in each presentation's window, Units rows ``rows``."""
        onsets = self._pres.onsets
        lo, hi = onsets + self.window[0], onsets + self.window[1]
        out = np.empty((rows.size, onsets.size), dtype=np.float64)
        for k, st in enumerate(self._spike_trains(rows)):
            out[k] = np.searchsorted(st, hi, side="left") - np.searchsorted(st, lo, side="left")
        return out

    def _obs_intervals(self) -> list[np.ndarray | None]:
        """Per Units row, its (n, 2) observation intervals, or None (observed throughout)."""
        n = len(self._units.id)
        if "obs_intervals" not in self._units.colnames:
            return [None] * n
        column = self._units["obs_intervals"]
        ends = self._ints(column.data, "units/obs_intervals_index")
        flat = self._floats(column.target.data, "units/obs_intervals").reshape(-1, 2)
        if ends.size != n or (ends.size and ends[-1] > len(flat)) or (np.diff(ends) < 0).any():
            raise self._err("units/obs_intervals_index", "index does not match the Units rows")
        starts = np.concatenate([[0], ends[:-1]])
        return [flat[a:b] for a, b in zip(starts, ends, strict=True)]

    # --- stimuli ----------------------------------------------------------------------------

    def _factor_names(self) -> list[str]:
        if self._table is None:
            return []
        names = getattr(self._table, "factor_columns", None)
        if names is not None:
            return _str_list(names, file=self.path, obj=f"{self._stim_where}/factor_columns")
        return [
            c
            for c in self._table.colnames
            if str(getattr(self._table[c], "description", "")).startswith("factor:")
        ]

    @property
    def stimulus_path(self) -> str:
        """NWB path of the stimulus set read (``stimulus_template/faces``...)."""
        return self._stim_where

    @property
    def stimulus_ids(self) -> list[str]:
        """Stimulus ids in image order."""
        return list(self._ids)

    @property
    def stimuli(self) -> pd.DataFrame:
        """Per-image table: stimulus_id, identity and label columns (index 0..N-1)."""
        n = self.n_stimuli
        if self._table is None:
            return pd.DataFrame({"stimulus_id": self._ids, "identity": [""] * n})
        skip = set(self._factor_names()) | {"landmarks"}
        skip |= self._not_labels(self._table, keep={"stimulus_id", "identity"})
        columns: dict[str, Any] = {}
        for name in self._table.colnames:
            column = self._table[name]
            if name in skip or getattr(column, "neurodata_type", "") == "VectorIndex":
                continue
            values = _column_values(
                column, file=self.path, obj=f"{self._stim_where}/stimulus_table/{name}"
            )
            if values.ndim != 1:
                continue
            columns[name] = list(values) if values.dtype == object else values
        return pd.DataFrame(columns, index=pd.RangeIndex(n))

    @property
    def factors(self) -> pd.DataFrame | None:
        """Known generative factors (N x F floats), or None."""
        names = self._factor_names()
        if not names:
            return None
        frame = pd.DataFrame(
            {
                name: self._floats(
                    self._table[name].data, f"{self._stim_where}/stimulus_table/{name}"
                )
                for name in names
            },
            index=pd.RangeIndex(self.n_stimuli),
        )
        bad = [name for name in names if not np.isfinite(frame[name].to_numpy()).all()]
        if bad:
            raise self._err(
                f"{self._stim_where}/stimulus_table/{bad[0]}", "non-finite factor values"
            )
        return frame

    @property
    def landmarks(self) -> np.ndarray | None:
        """Landmarks (N, L, 2) float32, (x, y) pixels, or None."""
        if self._table is None or "landmarks" not in self._table.colnames:
            return None
        where = f"{self._stim_where}/stimulus_table/landmarks"
        landmarks = self._floats(self._table["landmarks"].data, where).astype(np.float32)
        if landmarks.ndim != 3 or landmarks.shape[2] != 2:
            raise self._err(where, f"expected (stimuli, L, 2), got shape {landmarks.shape}")
        if not np.isfinite(landmarks).all():
            raise self._err(where, "non-finite landmark coordinates")
        return landmarks

    @property
    def images(self) -> LazyImages:
        """uint8 images (N, H, W[, 3]); indexing reads only the images asked for."""
        return self._images

    @property
    def image_shape(self) -> tuple[int, ...]:
        """Shape of one image: (H, W) or (H, W, 3)."""
        return tuple(self._images.shape[1:])

    def load_images(self, indices: Any = None) -> np.ndarray:
        """Images as float32 in [0, 1] (all, or the given indices)."""
        raw = self._images[:] if indices is None else self._images[np.asarray(indices)]
        return raw.astype(np.float32) / np.float32(255.0)

    # --- responses --------------------------------------------------------------------------

    @property
    def responses(self) -> xr.DataArray:
        """Responses (stimulus, neuron, repeat) float32, loaded once and cached.

        attrs: ``window`` (s), ``unit``, ``source`` ("processed" or "spike_times").
        """
        if self._responses is None:
            self._responses = self.read_responses()
        return self._responses

    def read_responses(self, stimuli: Any = None, neurons: Any = None) -> xr.DataArray:
        """Read a block of responses, touching only the chunks it needs.

        Parameters
        ----------
        stimuli, neurons
            Index (slice, int array or boolean mask) into stimuli / neurons; None = all.
        """
        import xarray as xr

        n_neurons = self.n_neurons
        stim_sel, _ = normalize_index(slice(None) if stimuli is None else stimuli, self.n_stimuli)
        unit_sel, _ = normalize_index(slice(None) if neurons is None else neurons, n_neurons)
        rows = self._kept_rows()
        column_sel = unit_sel if rows.size == self._all_ids().size else rows[unit_sel]
        if self._no_neurons:  # a behaviour-only file: (stimulus, 0 neurons, 0 repeats)
            block = np.zeros((np.arange(self.n_stimuli)[stim_sel].size, 0, 0), np.float32)
        elif self.response_source == "processed":
            where = f"processing/{MODULE}/{self._processed.name}/data"
            block = _read_block(self._processed.data, stim_sel, column_sel)
            block = np.asarray(block, dtype=np.float32)
            # one fast pass: a finite sum rules out inf (and NaN); else look closer
            if not np.isfinite(block.sum()):
                if np.isinf(block).any():
                    raise self._err(where, "non-finite (infinite) responses")
                self._check_missing(block, stim_sel, unit_sel, where)
        else:
            block = self._spike_block(rows[unit_sel])[stim_sel]
            if not np.isfinite(block.sum()):
                self._check_missing(block, stim_sel, unit_sel, self._pres.where)
        if self._stim_index is None:
            self._stim_index = pd.Index(np.asarray(self._ids, dtype=object), name="stimulus")
        stim_ids = self._stim_index[stim_sel]
        neuron_ids = self.neuron_ids[unit_sel]
        return xr.DataArray(
            block,
            dims=("stimulus", "neuron", "repeat"),
            coords={
                "stimulus": stim_ids,
                "neuron": neuron_ids,
                "repeat": np.arange(block.shape[2]),
            },
            attrs={
                "window": tuple(self.window),
                "unit": self.response_unit,
                "source": self.response_source,
            },
            name="responses",
        )

    def _spike_block(self, rows: np.ndarray) -> np.ndarray:
        """(N, len(rows), R) float32 counts; NaN where not shown or outside obs_intervals."""
        pres = self._pres
        reps = repeat_numbers(pres.stimulus_index, pres.onsets)
        counts = self._presentation_counts(rows)
        observed = observed_mask(
            [self._obs_intervals()[r] for r in rows], pres.onsets, self.window
        )
        counts[~observed] = np.nan
        out = np.full((self.n_stimuli, rows.size, self.n_repeats), np.nan, dtype=np.float32)
        out[pres.stimulus_index[:, None], np.arange(rows.size)[None, :], reps[:, None]] = counts.T
        return out

    def _check_missing(self, block: np.ndarray, stim_sel: Any, unit_sel: Any, where: str) -> None:
        """Refuse a (stimulus, neuron) whose every repeat is NaN: no response at all."""
        empty = np.isnan(block).all(axis=2)
        if not empty.any():
            return
        s, u = (int(i[0]) for i in np.nonzero(empty))
        stim = np.arange(self.n_stimuli)[stim_sel][s]
        neuron = self.neuron_ids[unit_sel][u]
        if self.response_source == "spike_times":
            raise self._err(where, f"stimulus {self._ids[stim]!r} is never presented")
        raise self._err(
            where,
            f"stimulus {self._ids[stim]!r}, neuron {int(neuron)}: every repeat is NaN "
            "(NaN marks a missing repeat; each stimulus needs one response per neuron)",
        )

    def _spike_trains(self, units: np.ndarray) -> list[np.ndarray]:
        index = self._units["spike_times"]
        ends = self._ints(index.data, "units/spike_times_index")
        starts = np.concatenate([[0], ends[:-1]])
        flat_ds = index.target.data
        everything = units.size > len(ends) // 4
        flat = self._floats(flat_ds, "units/spike_times") if everything else None
        trains = []
        for u in units:
            a, b = int(starts[u]), int(ends[u])
            st = (
                flat[a:b]
                if flat is not None
                else self._floats(flat_ds, "units/spike_times", index=slice(a, b))
            )
            if not np.isfinite(st).all():
                raise self._err(f"units/spike_times[{u}]", "non-finite spike times")
            if st.size > 1 and np.any(np.diff(st) < 0):
                st = np.sort(st)
            trains.append(st)
        return trains

    @property
    def spike_times(self) -> list[np.ndarray] | None:
        """Per unit, sorted spike times (s); None without a Units table with spike_times."""
        if self._units is None or "spike_times" not in self._units.colnames:
            return None
        return self._spike_trains(np.arange(len(self._units.id)))

    @property
    def presentations(self) -> pd.DataFrame | None:
        """start_time, stop_time, stimulus_index, repeat of each presentation; or None."""
        if self._pres is None:
            return None
        return pd.DataFrame(
            {
                "start_time": self._pres.onsets,
                "stop_time": self._pres.stops,
                "stimulus_index": self._pres.stimulus_index,
                "repeat": repeat_numbers(self._pres.stimulus_index, self._pres.onsets),
            }
        )

    @property
    def units(self) -> pd.DataFrame | None:
        """Per-neuron columns of the Units (or 'neurons') table for the selected units."""
        frame = self._unit_frame()
        if frame is None:
            return None
        return frame.loc[[int(i) for i in self.neuron_ids if int(i) in frame.index]]

    # --- latents, truth, metadata -----------------------------------------------------------

    @property
    def latents(self) -> dict[str, xr.DataArray]:
        """Stored model latents by name: DataArray (stimulus, unit), attrs = provenance."""
        import xarray as xr

        out: dict[str, xr.DataArray] = {}
        if self._module is None:
            return out
        for name, obj in self._module.data_interfaces.items():
            if getattr(obj, "neurodata_type", None) != "ModelLatents":
                continue
            data = self._floats(obj.data, f"processing/{MODULE}/{name}/data").astype(np.float32)
            if data.shape[0] != self.n_stimuli:
                raise self._err(
                    f"processing/{MODULE}/{name}/data",
                    f"{data.shape[0]} latent rows but {self.n_stimuli} images",
                )
            out[name] = xr.DataArray(
                data,
                dims=("stimulus", "unit"),
                coords={
                    "stimulus": list(self._ids),
                    "unit": _str_list(
                        obj.unit_names, file=self.path,
                        obj=f"processing/{MODULE}/{name}/unit_names",
                    ),
                },
                attrs=latent_provenance(obj),
                name=name,
            )
        return out

    @property
    def truth(self) -> dict[str, Any] | None:
        """Simulator ground truth (SimulationTruth), or None."""
        obj = self._find_typed("SimulationTruth", "truth")
        if obj is None:
            return None
        where = f"processing/{MODULE}/{obj.name}"
        truth: dict[str, Any] = {
            "tuning_weights": self._floats(obj.tuning_weights, f"{where}/tuning_weights"),
            "factor_names": _str_list(obj.factor_names, file=self.path,
                                      obj=f"{where}/factor_names"),
            "code": _str_list(obj.code, file=self.path, obj=f"{where}/code"),
            "baseline": self._floats(obj.baseline, f"{where}/baseline"),
            "gain": self._floats(obj.gain, f"{where}/gain"),
            "params": _json_object(obj.parameters, file=self.path, obj=f"{where}/parameters"),
        }
        if getattr(obj, "extra", None):
            truth.update(_json_object(obj.extra, file=self.path, obj=f"{where}/extra"))
        return truth

    @property
    def metadata(self) -> SessionMetadata:
        """Session and subject metadata."""
        f = self.nwbfile
        subject = f.subject
        groups = list(f.electrode_groups.values()) if f.electrode_groups else []
        region = None
        if "recording_site" in (f.electrode_groups or {}):
            region = f.electrode_groups["recording_site"].location
        elif len(groups) == 1:
            region = groups[0].location
        return SessionMetadata(
            identifier=str(f.identifier),
            session_description=str(f.session_description),
            session_start_time=f.session_start_time,
            subject_id=getattr(subject, "subject_id", None),
            species=getattr(subject, "species", None),
            sex=getattr(subject, "sex", None) or "U",
            age=getattr(subject, "age", None),
            lab=f.lab,
            institution=f.institution,
            experimenter=_str_list(f.experimenter, file=self.path, obj="general/experimenter"),
            brain_region=region,
            keywords=_str_list(f.keywords, file=self.path, obj="general/keywords"),
            related_publications=_str_list(
                f.related_publications, file=self.path, obj="general/related_publications"
            ),
        )

    def sha256(self) -> str:
        """sha256 of the file (or Zarr folder), computed once."""
        if self._sha is None:
            self._sha = file_sha256(self.path)
        return self._sha

    def _not_labels(self, table: Any, keep: frozenset | set = frozenset()) -> set[str]:
        """Columns of object references or compound values: not labels, left out."""
        return {
            c.name
            for c in table.columns
            if c.name not in keep and dataset_kind(c.data) in ("references", "compound")
        }

    @property
    def warnings(self) -> list[str]:
        """Warnings about how the recording was read (the pixel rule's rescaling), one line each.

        The runner copies them into summary.json's ``warnings``.
        """
        return list(self._images.warnings) + self.selection.warnings()

    def validate(self) -> None:
        """Read everything once and raise InputError on bad values (infinite responses...)."""
        self.read_responses()
        self._images.rule()  # the pixel rule: NaN, negative or out-of-range pixels
        _ = self.latents, self.truth, self.stimuli, self.factors, self.landmarks
        _ = self.metadata, self.units
        if self.has_spike_times and self.response_source == "processed":
            self.spike_times  # noqa: B018 - checks spike times are finite


def _check_min_rate(min_rate: float | None, path: Path) -> float | None:
    """``min_rate`` as a finite float >= 0, or None; one line naming it otherwise."""
    if min_rate is None:
        return None
    try:
        value = float(min_rate)
    except (TypeError, ValueError):
        value = float("nan")
    if not (np.isfinite(value) and value >= 0):
        raise InputError(f"must be a rate in Hz >= 0, got {min_rate!r}", file=path, obj="min_rate")
    return value


def _read_block(dataset: Any, stim_sel: np.ndarray | slice, unit_sel: np.ndarray | slice) -> Any:
    """``dataset[stim_sel, unit_sel, :]`` reading only the chunks those rows/columns touch."""
    if isinstance(unit_sel, slice):
        return read_rows(dataset, stim_sel, (unit_sel,))
    if unit_sel.size == 0:
        return np.empty((len(np.arange(dataset.shape[0])[stim_sel]), 0, dataset.shape[2]))
    uniq, inverse = np.unique(unit_sel, return_inverse=True)
    lo, hi = int(uniq[0]), int(uniq[-1]) + 1
    if not isinstance(stim_sel, slice):
        block = read_rows(dataset, stim_sel, (slice(lo, hi),))
        return block[:, uniq - lo][:, inverse]
    if hi - lo == uniq.size:
        block = dataset[stim_sel, lo:hi]
    elif hasattr(dataset, "oindex"):
        block = dataset.oindex[stim_sel, uniq]
    else:
        block = dataset[stim_sel, uniq.tolist()]
    return np.asarray(block)[:, inverse]


def latent_provenance(obj: Any) -> dict[str, Any]:
    """Provenance attributes of a ModelLatents object as a flat dict."""
    attrs: dict[str, Any] = {
        "model": str(obj.model),
        "plugin": str(obj.plugin),
        "plugin_version": str(obj.plugin_version),
        "parameters": str(obj.parameters),
        "seed": int(obj.seed),
        "training_images_sha256": str(obj.training_images_sha256),
        "package_version": str(obj.package_version),
        "created": str(obj.created),
    }
    for optional in ("source", "extra"):
        value = getattr(obj, optional, None)
        if value:
            attrs[optional] = str(value)
    return attrs


def read_session(path: str | Path, **open_kwargs: Any) -> SessionData:
    """Read a whole recording into memory as SessionData (the inverse of write_session)."""
    with Recording.open(path, **open_kwargs) as rec:
        stimuli = rec.stimuli
        labels = stimuli.drop(columns=["stimulus_id", "identity"])
        units = rec._unit_frame()  # every unit: a copy of the file, not a selection
        processed = rec.has_processed
        return SessionData(
            images=rec.images[:],
            stimulus_ids=rec.stimulus_ids,
            metadata=rec.metadata,
            identity=np.asarray(stimuli["identity"].tolist(), dtype=object),
            factors=rec.factors,
            landmarks=rec.landmarks,
            labels=labels if len(labels.columns) else None,
            responses=rec.responses.values if processed else None,
            response_unit=rec.response_unit,
            window=rec.window,
            spike_times=rec.spike_times,
            presentations=rec.presentations,
            units=units if units is not None and len(units.columns) else None,
            truth=rec.truth,
            spike_time_resolution=(
                float(rec._units.resolution) if rec._units is not None else None
            ),
        )
