"""Inspect an NWB file: what it holds and what nwbinspector finds.

The summary lists stimuli, neurons, repeats, latents and their provenance; the findings come
from nwbinspector, the NWB community's best-practice checker.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "Finding",
    "SERIOUS",
    "inspector_messages",
    "nwbinspector_findings",
    "serious_findings",
    "summarize",
    "inspect_file",
    "render",
]

#: Importance levels that make a file unacceptable (the project writes none of these).
SERIOUS = ("ERROR", "PYNWB_VALIDATION", "CRITICAL", "BEST_PRACTICE_VIOLATION")


@dataclass(frozen=True)
class Finding:
    """One finding: which file, which check, where, how bad, and what.

    The one finding type: ``neurofacedis inspect`` (nwbinspector's messages) and
    :mod:`neurofacedis.data.validate` (those plus the project's own checks) both report it.
    ``status`` is ``fail`` (an importance in :data:`SERIOUS`, or a failed project check),
    ``warn`` or ``ok``.
    """

    file: str
    check: str
    status: str  # "fail", "warn" or "ok"
    location: str
    message: str
    importance: str = ""  # nwbinspector's importance level, for its findings
    source: str = "neurofacedis"  # or "nwbinspector"
    object_type: str = ""  # nwbinspector's neurodata type of the object, for its findings


def inspector_messages(path: str | Path, config: dict | None = None, *,
                       follow_links: bool = False) -> list[Any]:
    """Run nwbinspector, and pynwb's schema validation, on an HDF5 file or an NWB Zarr store.

    The one nwbinspector wrapper: :func:`nwbinspector_findings` (``neurofacedis inspect``)
    and :mod:`neurofacedis.data.validate` (``neurofacedis data validate``) both use it.
    Returns nwbinspector's ``InspectorMessage`` objects (None entries dropped); ``config`` is
    an nwbinspector configuration (e.g. ``load_config("dandi")``).
    """
    from nwbinspector import inspect_nwbfile

    path = Path(path)
    if not path.is_dir():
        return [m for m in inspect_nwbfile(nwbfile_path=str(path), config=config) if m]
    # nwbinspector 0.7 opens Zarr through pynwb.read_nwb, which passes HDF5-only arguments to
    # hdmf-zarr; open it here with the file's cached namespaces, as pynwb.validate(path=) does.
    import pynwb
    from hdmf_zarr.nwb import NWBZarrIO
    from nwbinspector import Importance, InspectorMessage, inspect_nwbfile_object
    from pynwb.validation import get_cached_namespaces_to_validate

    from neurofacedis.nwb import open_nwb

    with NWBZarrIO(str(path), mode="r", load_namespaces=False) as probe:
        _, manager, _ = get_cached_namespaces_to_validate(io=probe)
    kwargs = {"manager": manager} if manager is not None else {"load_namespaces": True}
    with NWBZarrIO(str(path), mode="r", **kwargs) as io:
        messages = [
            InspectorMessage(
                message=e.reason,
                importance=Importance.PYNWB_VALIDATION,
                check_function_name=e.name,
                location=e.location,
                file_path=str(path),
            )
            for e in pynwb.validate(io=io)
        ]
    io, nwbfile = open_nwb(path, follow_links=follow_links)  # the manager cannot build them
    try:
        messages.extend(inspect_nwbfile_object(nwbfile_object=nwbfile, config=config))
    finally:
        io.close()
    return [m for m in messages if m]


def nwbinspector_findings(path: str | Path, *, follow_links: bool = False) -> list[Finding]:
    """Run nwbinspector (with pynwb validation) on a file or NWB Zarr folder."""
    from neurofacedis._inputs import check_input_path, check_links

    path = check_input_path(path, what="", folder="zarr")
    if not path.is_dir():
        check_links(path, follow_links=follow_links)  # nwbinspector would follow them
    return [
        Finding(
            file=str(path),
            check=str(m.check_function_name),
            status="fail" if m.importance.name in SERIOUS else "warn",
            location=str(m.location or ""),
            message=str(m.message).splitlines()[0] if m.message else "",
            importance=m.importance.name,
            source="nwbinspector",
            object_type=str(m.object_type),
        )
        for m in inspector_messages(path, follow_links=follow_links)
    ]


def serious_findings(path: str | Path) -> list[Finding]:
    """Return the findings at CRITICAL or BEST_PRACTICE_VIOLATION level (or validation errors)."""
    return [f for f in nwbinspector_findings(path) if f.importance in SERIOUS]


def _subject(nwbfile: Any) -> dict[str, Any]:
    s = nwbfile.subject
    if s is None:
        return {}
    return {k: getattr(s, k, None) for k in ("subject_id", "species", "sex", "age")}


def _analysis_summary(path: Path, follow_links: bool = False) -> dict[str, Any]:
    from neurofacedis.nwb import MODULE, RESULTS_MODULE, open_nwb
    from neurofacedis.nwb._recording import latent_provenance

    io, nwbfile = open_nwb(path, follow_links=follow_links)
    try:
        module = nwbfile.processing.get(MODULE)
        objects = dict(module.data_interfaces) if module is not None else {}
        stimuli = objects.get("stimuli")
        latents = {
            name: {"shape": list(obj.data.shape), **latent_provenance(obj)}
            for name, obj in objects.items()
            if getattr(obj, "neurodata_type", None) == "ModelLatents"
        }
        results = nwbfile.processing.get(RESULTS_MODULE)
        tables = {name: len(t.id) for name, t in results.data_interfaces.items()} if results else {}
        return {
            "file": str(path),
            "kind": "analysis",
            "identifier": str(nwbfile.identifier),
            "session_description": str(nwbfile.session_description),
            "source": str(nwbfile.notes or ""),
            "subject": _subject(nwbfile),
            "stimuli": len(stimuli.id) if stimuli is not None else 0,
            "latents": latents,
            "results": tables,
        }
    finally:
        io.close()


def _is_analysis(path: Path, follow_links: bool = False) -> bool:
    from neurofacedis.nwb import MODULE, RESULTS_MODULE, open_nwb

    io, nwbfile = open_nwb(path, follow_links=follow_links)
    try:
        if RESULTS_MODULE in nwbfile.processing:
            return True
        module = nwbfile.processing.get(MODULE)
        return (
            module is not None
            and "stimuli" in module.data_interfaces
            and not any(
                getattr(o, "neurodata_type", None) == "FaceStimulusSet"
                for o in module.data_interfaces.values()
            )
        )
    finally:
        io.close()


def summarize(path: str | Path, *, follow_links: bool = False) -> dict[str, Any]:
    """Describe a recording (or an analysis.nwb) as a JSON-ready dict.

    A recording is read in full once (:meth:`Recording.validate`), so bad values raise
    :class:`~neurofacedis.errors.InputError`; so does a damaged chunk anywhere. Links to
    other files are refused unless ``follow_links`` (then listed, with their sha256, under
    ``linked_files``).
    """
    from neurofacedis._inputs import check_input_path, damaged_objects
    from neurofacedis.errors import InputError, MissingDataError
    from neurofacedis.nwb import Recording

    path = check_input_path(path, what="", folder="zarr")
    if _is_analysis(path, follow_links):  # links are checked when it opens
        return _analysis_summary(path, follow_links)
    for obj, problem in damaged_objects(path):  # every chunk, a block at a time
        raise InputError(problem, file=path, obj=obj)
    try:
        rec_cm = Recording.open(path, follow_links=follow_links)
    except MissingDataError as exc:  # a valid NWB file of another kind: describe it
        return _behaviour_summary(path, follow_links) or _plain_summary(path, exc, follow_links)
    with rec_cm as rec:
        rec.validate()
        stimuli = rec.stimuli
        factors = rec.factors
        landmarks = rec.landmarks
        return {
            **_head(path, "recording", rec.nwbfile),
            "stimuli": rec.n_stimuli,
            "image_shape": list(rec.image_shape),
            "identities": int(stimuli["identity"].nunique()),
            "labels": [c for c in stimuli.columns if c not in ("stimulus_id", "identity")],
            "factors": list(factors.columns) if factors is not None else [],
            "landmarks": int(landmarks.shape[1]) if landmarks is not None else 0,
            "neurons": rec.n_neurons,
            "repeats": rec.n_repeats,
            "response_source": rec.response_source,
            "response_unit": rec.response_unit,
            "window": list(rec.window),
            "has_processed": rec.has_processed,
            "has_spike_times": rec.has_spike_times,
            "presentations": 0 if rec.presentations is None else len(rec.presentations),
            "latents": {
                name: {"shape": list(da.shape), **da.attrs} for name, da in rec.latents.items()
            },
            "truth": rec.truth is not None,
            **({"linked_files": rec.linked_files} if rec.linked_files else {}),
        }


def _behaviour_summary(path: Path, follow_links: bool) -> dict[str, Any] | None:
    """Describe a behaviour file (human judgements, no neurons), or None if it is not one.

    Its images, when it holds them, are read as a recording's are (``require_neurons``
    False); a file without images or behaviour is None (then described as plain NWB).
    """
    from neurofacedis.errors import InputError, MissingDataError
    from neurofacedis.nwb import Recording
    from neurofacedis.nwb._behaviour import read_behaviour

    try:
        behaviour = read_behaviour(path, follow_links=follow_links)
    except InputError:  # holds no behaviour (or none readable): another kind of file
        return None
    try:
        with Recording.open(path, follow_links=follow_links, require_neurons=False) as rec:
            rec.validate()
            head = {**_head(path, "behaviour", rec.nwbfile), "stimuli": rec.n_stimuli,
                    "image_shape": list(rec.image_shape), "neurons": 0}
    except MissingDataError:  # no images: behaviour of its own, for another file's stimuli
        io, nwbfile = _open(path, follow_links)
        try:
            head = {**_head(path, "behaviour", nwbfile), "stimuli": behaviour.n_stimuli,
                    "image_shape": [], "neurons": 0}
        finally:
            io.close()
    trials = behaviour.trials
    head["behaviour"] = {
        "subjects": len(behaviour.subjects), "trials": len(trials),
        "choices": list(behaviour.choice_labels), "ratings": behaviour.has_ratings,
        "rdms": behaviour.rdms is not None, "trials_table": behaviour.where.get("trials"),
    }
    head["analysable"] = ("with --target behaviour" if head["image_shape"] else
                          "as --behaviour of a recording showing these stimuli")
    return head


def _open(path: Path, follow_links: bool) -> tuple[Any, Any]:
    from neurofacedis.nwb._recording import open_nwb

    return open_nwb(path, follow_links=follow_links)


def _head(path: Path, kind: str, nwbfile: Any) -> dict[str, Any]:
    """Return the fields every description starts with: file, kind, session, subject."""
    return {"file": str(path), "kind": kind, "identifier": nwbfile.identifier,
            "session_description": nwbfile.session_description,
            "session_start_time": str(nwbfile.session_start_time),
            "subject": _subject(nwbfile)}


def _plain_summary(path: Path, why: Any, follow_links: bool) -> dict[str, Any]:
    """Describe an NWB file the analysis cannot use: its contents and what is missing."""
    from neurofacedis.nwb._recording import open_nwb

    io, nwbfile = open_nwb(path, follow_links=follow_links)
    try:
        units = nwbfile.units
        return {
            **_head(path, "nwb (not analysable)", nwbfile),
            "missing_for_analysis": f"{why.obj}: {why.problem}" if why.obj else why.problem,
            "acquisition": sorted(nwbfile.acquisition),
            "stimulus": sorted(nwbfile.stimulus),
            "stimulus_template": sorted(nwbfile.stimulus_template),
            "intervals": sorted(nwbfile.intervals or {}),
            "units": 0 if units is None else len(units),
            "processing": sorted(nwbfile.processing),
        }
    finally:
        io.close()


def inspect_file(path: str | Path, *, follow_links: bool = False) -> dict[str, Any]:
    """Summary (:func:`summarize`) plus nwbinspector's findings, as a JSON-ready dict."""
    report = summarize(path, follow_links=follow_links)
    findings = nwbinspector_findings(path, follow_links=follow_links)
    report["findings"] = [asdict(f) for f in findings]
    report["serious_findings"] = sum(f.importance in SERIOUS for f in findings)
    return report


def render(report: dict[str, Any], console: Any) -> None:
    """Print an :func:`inspect_file` report as rich tables.

    Every name, path and message is data, printed as it is (``data[0]`` keeps its
    brackets: nothing is read as rich markup); off a terminal every cell is whole.
    """
    from rich.table import Table
    from rich.text import Text

    from neurofacedis.progress import print_table

    overview = Table(title=Text(f"{report['file']} ({report['kind']})"), show_header=False)
    overview.add_column("field", style="bold")
    overview.add_column("value")
    skip = {"file", "kind", "latents", "findings", "results"}
    for key, value in report.items():
        if key in skip:
            continue
        if isinstance(value, dict):
            value = ", ".join(f"{k}={v}" for k, v in value.items())
        elif isinstance(value, list):
            value = ", ".join(map(str, value)) or "-"
        overview.add_row(Text(key), Text(str(value)))
    for name, rows in report.get("results", {}).items():
        overview.add_row(Text(f"results: {name}"), Text(f"{rows} rows"))
    print_table(overview, console)
    if report.get("latents"):
        latents = Table(title="latents")
        for col in ("name", "shape", "model", "plugin", "version", "seed", "created"):
            latents.add_column(col)
        for name, info in report["latents"].items():
            cells = (name, "x".join(map(str, info["shape"])), info.get("model", ""),
                     info.get("plugin", ""), info.get("plugin_version", ""),
                     info.get("seed", ""), info.get("created", ""))
            latents.add_row(*(Text(str(c)) for c in cells))
        print_table(latents, console)
    findings = Table(title=f"nwbinspector: {len(report['findings'])} finding(s)")
    for col in ("importance", "check", "location", "message"):
        findings.add_column(col, overflow="fold")
    for f in report["findings"]:
        style = "red" if f["importance"] in SERIOUS else None
        cells = (f["importance"], f["check"], f["location"], f["message"])
        findings.add_row(*(Text(str(c)) for c in cells), style=style)
    print_table(findings, console)
