"""Validate NWB recordings before sharing: nwbinspector plus the project's own checks.

nwbinspector (with pynwb's schema validation) finds general NWB problems; the project's checks
find what would break an analysis: the stimulus count must equal the response rows and the
latent rows, responses and latents must be finite (NaN only as a missing repeat), the
``ndx-neurofacedis`` schema must be cached in the file with its version, and every
ModelLatents object must carry complete provenance. Works on HDF5 files and Zarr folders.

Before anything opens a file, it passes the input gate (:mod:`neurofacedis._inputs`): a FIFO,
device or socket is refused at once; links to other files are a failing finding (and the file
is not opened, since nwbinspector would follow them) unless ``follow_links``. Unless
``quick``, every chunk of every dataset is read (a block at a time) and a damaged one is a
failing finding naming the object.

Severities: ``fail`` (nwbinspector CRITICAL, PYNWB_VALIDATION, ERROR and
BEST_PRACTICE_VIOLATION; any failed project check) makes the report not ok; ``warn``
(BEST_PRACTICE_SUGGESTION) and ``ok`` rows are shown but do not.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from neurofacedis._inputs import (
    check_input_path,
    check_links,
    damaged_objects,
    hdf5_open_error,
    reading,
)
from neurofacedis.errors import InputError
from neurofacedis.inspection import Finding  # the one finding type
from neurofacedis.nwb._analysis import PROVENANCE_FIELDS  # the one definition
from neurofacedis.nwb._schema import NAMESPACE  # the one definition (schemas/)

__all__ = [
    "Finding",
    "ValidationReport",
    "validate_files",
    "PROVENANCE_FIELDS",
    "NAMESPACE",
]

_FAILING_IMPORTANCE = {"ERROR", "PYNWB_VALIDATION", "CRITICAL", "BEST_PRACTICE_VIOLATION"}
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass
class ValidationReport:
    """All findings for a set of files; ``ok`` when none failed."""

    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no finding has status ``fail``."""
        return not any(f.status == "fail" for f in self.findings)

    @property
    def failures(self) -> list[Finding]:
        """The failing findings."""
        return [f for f in self.findings if f.status == "fail"]

    def to_json(self) -> str:
        """Render the report as JSON: ``{"ok": bool, "findings": [...]}``."""
        return json.dumps(
            {"ok": self.ok, "findings": [asdict(f) for f in self.findings]}, indent=2
        )


def is_zarr(path: Path) -> bool:
    """Tell a Zarr store (a folder) from an HDF5 file."""
    return Path(path).is_dir()


@contextmanager
def open_nwb(path: str | Path) -> Iterator[Any]:
    """Open an NWB file (HDF5) or Zarr folder read-only (:func:`neurofacedis.nwb.open_nwb`)."""
    from neurofacedis.nwb import open_nwb as _open

    io, nwbfile = _open(path)
    try:
        yield nwbfile
    finally:
        io.close()


def cached_namespaces(path: str | Path) -> dict[str, list[str]]:
    """Namespaces cached in the file (``/specifications``): name -> versions."""
    path = Path(path)
    if is_zarr(path):
        import zarr

        try:
            root = zarr.open_group(str(path), mode="r")
        except Exception:  # noqa: BLE001 (zarr raises several types for "not a group")
            raise InputError("not a Zarr store", file=path) from None
        spec = root.get("specifications")
        return {} if spec is None else {k: sorted(spec[k].group_keys()) for k in spec.group_keys()}
    import h5py

    if not h5py.is_hdf5(path):
        raise InputError("not an HDF5 file (NWB files are HDF5 or Zarr)", file=path)
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise hdf5_open_error(exc, path) from None
    with f:
        spec = f.get("specifications")
        return {} if spec is None else {k: sorted(spec[k].keys()) for k in spec.keys()}


def validate_files(
    paths: Sequence[str | Path],
    *,
    dandi: bool = False,
    quick: bool = False,
    follow_links: bool = False,
) -> ValidationReport:
    """Run nwbinspector and the project's checks on each file.

    Parameters
    ----------
    paths
        NWB files (HDF5) or Zarr folders.
    dandi
        Use nwbinspector's ``dandi`` configuration (what ``dandi validate`` enforces before an
        upload: subject id, species, sex, ... become violations).
    quick
        Skip reading every chunk of every dataset (damaged chunks then go unnoticed).
    follow_links
        Read links to other files (listed as findings with their sha256) instead of failing.

    Raises
    ------
    InputError
        A path that does not exist, is not a regular file or Zarr store, or is not UTF-8.
    """
    paths = [check_input_path(p, what="", folder="zarr") for p in paths]  # all, before work
    report = ValidationReport()
    for path in paths:
        opened = _link_findings(path, follow_links=follow_links)
        report.findings.extend(opened)
        if any(f.status == "fail" for f in opened):
            continue  # links refused, or the file cannot be opened at all
        report.findings.extend(_inspector(path, dandi=dandi))
        report.findings.extend(_project_checks(path, follow_links=follow_links))
        if not quick:
            report.findings.extend(_chunk_findings(path))
    return report


def _link_findings(path: Path, *, follow_links: bool) -> list[Finding]:
    """Links to other files: a failure unless followed; followed ones listed with sha256."""
    file = str(path)
    try:
        linked = check_links(path, follow_links=follow_links)
    except InputError as exc:
        if exc.problem.startswith("not an HDF5 file"):
            return []  # nwbinspector and the project checks say so
        check = "links" if "link" in exc.problem else "read"
        return [Finding(file, check, "fail", exc.obj or "/", exc.problem)]
    return [
        Finding(file, "links", "ok", "; ".join(e["links"]), f"reads {e['path']} "
                f"(sha256 {e['sha256']})")
        for e in linked
    ]


def _chunk_findings(path: Path) -> list[Finding]:
    """Read every chunk of every dataset; each damaged object is a failing finding."""
    file = str(path)
    try:
        damaged = list(damaged_objects(path))
    except InputError as exc:
        return [Finding(file, "chunks", "fail", exc.obj or "/", exc.problem)]
    except Exception as exc:  # noqa: BLE001 (a store that cannot be walked is a finding)
        return [Finding(file, "chunks", "fail", "/", f"cannot read: {type(exc).__name__}")]
    if not damaged:
        return [Finding(file, "chunks", "ok", "/", "every chunk of every dataset read")]
    return [Finding(file, "chunks", "fail", obj, problem) for obj, problem in damaged]


def _inspector(path: Path, *, dandi: bool) -> list[Finding]:
    import warnings

    from nwbinspector import load_config

    from neurofacedis.inspection import inspector_messages

    config = load_config(filepath_or_keyword="dandi") if dandi else None
    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            messages = inspector_messages(path, config)  # the one wrapper
        except Exception as exc:  # noqa: BLE001 (an unreadable file is a finding)
            return [Finding(str(path), "read", "fail", "/",
                            f"cannot read the file: {type(exc).__name__}: {exc}",
                            "ERROR", "nwbinspector")]
    for m in messages:
        importance = m.importance.name
        where = "/".join(x for x in (m.location, m.object_name) if x and x != "/") or "/"
        text = " ".join(str(m.message).strip().splitlines())
        check = m.check_function_name
        status = "fail" if importance in _FAILING_IMPORTANCE else "warn"
        if importance == "ERROR":
            lines = str(m.message).strip().splitlines()
            text = lines[-1] if lines else ""
            if check.startswith("During io.read()"):
                check = "read"
            else:  # a check that crashed is a tool problem, not evidence about the data
                status = "warn"
                head, _, why = check.partition(" - ")
                named = re.search(r"'([^']+)'", head)
                check = named.group(1) if named else head
                text = f"check could not run: {why or text}"
        out.append(Finding(str(path), check, status, where, text, importance, "nwbinspector"))
    if not out:
        out.append(Finding(str(path), "nwbinspector", "ok", "/", "no findings", "", "nwbinspector"))
    return out


def _typed(nwbfile: Any, type_name: str) -> list[Any]:
    return sorted(
        (o for o in nwbfile.objects.values() if getattr(o, "neurodata_type", None) == type_name),
        key=lambda o: _where(o),
    )


def _where(obj: Any) -> str:
    parts = []
    while obj is not None and getattr(obj, "parent", None) is not None:
        parts.append(obj.name)
        obj = obj.parent
    return "/".join(reversed(parts)) or "/"


#: The project's own types: a file holding none of them is a plain lab file, checked by the
#: reader ``analyze`` uses (:class:`~neurofacedis.nwb.Recording`), not by the project schema.
OWN_TYPES = frozenset(
    {"FaceStimulusSet", "StimulusTable", "StimulusResponses", "ModelLatents", "SimulationTruth"}
)


def _has_own_types(path: Path) -> bool:
    try:
        with open_nwb(path) as nwbfile:
            return any(getattr(o, "neurodata_type", None) in OWN_TYPES
                       for o in nwbfile.objects.values())
    except InputError:
        return True  # the project checks report why it cannot be read


def _analysis_finding(path: Path, *, follow_links: bool) -> Finding:
    """Whether ``analyze`` can use a plain file: the same reader, every value read once."""
    import warnings

    from neurofacedis.nwb import Recording

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Recording.open(path, follow_links=follow_links) as rec:
                rec.validate()
                message = (
                    f"readable for analysis: {rec.n_stimuli} stimuli ({rec.stimulus_path}), "
                    f"{rec.n_neurons} neurons, {rec.n_repeats} repeats, from "
                    f"{rec.response_source}"
                )
                dropped = rec.selection.dropped
                if dropped:
                    message += "; dropped units " + ", ".join(map(str, dropped))
    except InputError as exc:
        return Finding(str(path), "analysis", "fail", exc.obj or "/", exc.problem)
    return Finding(str(path), "analysis", "ok", "/", message)


def _project_checks(path: Path, *, follow_links: bool = False) -> list[Finding]:
    file = str(path)
    out: list[Finding] = []

    def add(check: str, ok: bool, where: str, message: str) -> None:
        out.append(Finding(file, check, "ok" if ok else "fail", where, message))

    try:
        namespaces = cached_namespaces(path)
    except InputError as exc:
        add("read", False, "/", exc.problem)
        return out
    versions = namespaces.get(NAMESPACE, [])
    if not _has_own_types(path):  # the schema matters only for objects of its types
        add("schema", True, "/", f"plain NWB (no {NAMESPACE} objects): schema not needed")
        return [*out, _analysis_finding(path, follow_links=follow_links)]
    add(
        "schema",
        bool(versions),
        "/specifications",
        f"{NAMESPACE} {', '.join(versions)} cached"
        if versions
        else f"{NAMESPACE} not cached in the file (write with cache_spec=True)",
    )
    try:
        with open_nwb(path) as nwbfile:
            out.extend(_content_checks(file, nwbfile))
    except InputError as exc:
        add("read", False, "/", exc.problem)
    return out


def _content_checks(file: str, nwbfile: Any) -> Iterable[Finding]:
    def finding(check: str, ok: bool, where: str, message: str) -> Finding:
        return Finding(file, check, "ok" if ok else "fail", where, message)

    sets = _typed(nwbfile, "FaceStimulusSet")
    tables = _typed(nwbfile, "StimulusTable")
    responses = _typed(nwbfile, "StimulusResponses")
    latents = _typed(nwbfile, "ModelLatents")
    n_stim: int | None = None
    if sets:
        s = sets[0]
        n_images = int(s.images.shape[0])
        n_rows = len(s.stimulus_table)
        n_stim = n_images
        yield finding(
            "stimuli",
            n_images == n_rows,
            _where(s),
            f"{n_images} images, {n_rows} stimulus table rows",
        )
    elif tables:
        n_stim = len(tables[0])
        yield finding("stimuli", True, _where(tables[0]), f"{n_stim} stimulus table rows")
    else:
        yield finding("stimuli", False, "/", "no FaceStimulusSet or StimulusTable")

    for r in responses:
        yield from _rows_and_finite(file, "response", r, n_stim)
    if not responses:
        units = nwbfile.units
        pres = nwbfile.intervals.get("presentations") if nwbfile.intervals else None
        if units is None or pres is None:
            yield finding(
                "responses", False, "/", "no StimulusResponses and no Units + presentations"
            )
        elif n_stim is not None:
            with reading(pres["stimulus_index"].data):
                idx = np.asarray(pres["stimulus_index"][:])
            ok = bool(idx.size) and idx.min() >= 0 and idx.max() < n_stim
            yield finding(
                "presentations index stimuli",
                ok,
                _where(pres),
                f"{idx.size} presentations of {len(np.unique(idx))} stimuli (of {n_stim})",
            )

    for lat in latents:
        where = _where(lat)
        yield from _rows_and_finite(file, "latent", lat, n_stim)
        missing = _provenance_problems(lat)
        yield finding(
            "latents provenance",
            not missing,
            where,
            f"{lat.model} by {lat.plugin} {lat.plugin_version}, seed {lat.seed}"
            if not missing
            else "; ".join(missing),
        )


def _rows_and_finite(file: str, kind: str, obj: Any, n_stim: int | None) -> Iterator[Finding]:
    """One row per stimulus and finite values, for a response or latent array."""
    with reading(obj.data):
        data = np.asarray(obj.data[:], dtype=np.float64)
    where = _where(obj)
    if n_stim is not None:
        ok = data.shape[0] == n_stim
        yield Finding(file, f"stimulus count = {kind} rows", "ok" if ok else "fail", where,
                      f"{n_stim} stimuli, {data.shape[0]} {kind} rows")
    repeats = kind == "response" and data.ndim == 3  # stimulus x neuron x repeat
    yield from _finite(file, f"{kind}s finite", where, data, repeats=repeats)


def _finite(file: str, check: str, where: str, data: np.ndarray, *, repeats: bool):
    inf = int(np.isinf(data).sum())
    nan = int(np.isnan(data).sum())
    if repeats:
        empty = int(np.isnan(data).all(axis=2).sum())
        ok = inf == 0 and empty == 0
        msg = f"{inf} infinite values, {empty} stimulus x neuron cells without any repeat"
        if nan:
            msg += f", {nan} missing repeats (NaN)"
    else:
        ok = inf == 0 and nan == 0
        msg = f"{inf} infinite, {nan} NaN values"
    yield Finding(file, check, "ok" if ok else "fail", where, msg)


def _provenance_problems(lat: Any) -> list[str]:
    problems = []
    for name in PROVENANCE_FIELDS:
        value = getattr(lat, name, None)
        if value is None or (isinstance(value, str) and not value.strip()):
            problems.append(f"{name} missing")
    if "parameters missing" not in problems:
        try:
            if not isinstance(json.loads(lat.parameters), dict):
                problems.append("parameters is not a JSON object")
        except (TypeError, ValueError):
            problems.append("parameters is not valid JSON")
    seed = getattr(lat, "seed", None)
    if seed is not None and int(seed) < 0:
        problems.append("seed missing (negative)")
    sha = getattr(lat, "training_images_sha256", None)
    if sha and not _SHA256.match(str(sha)):
        problems.append("training_images_sha256 is not a sha256")
    created = getattr(lat, "created", None)
    if created:
        try:
            datetime.fromisoformat(str(created))
        except ValueError:
            problems.append("created is not ISO 8601")
    return problems
