"""Pack NWB files for sharing: validate, hash, write the manifest entry, lay out for DANDI.

:func:`pack_files` refuses files that fail :func:`~neurofacedis.data.validate_files`, computes
each file's sha256 and size, and adds (or replaces) the dataset's entry in a manifest,
keeping the rest of that YAML file as it was. With ``dandi_dir`` it also copies the files
into DANDI's layout, ``sub-<subject>/sub-<subject>_ses-<session>.nwb``, so that
``dandi upload`` (run from that folder after ``dandi download`` of the dandiset's
``dandiset.yaml``) accepts them unchanged; the manifest paths then follow that layout.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from neurofacedis._inputs import check_input_path, check_links
from neurofacedis.data.fetch import file_sha256
from neurofacedis.data.manifest import (
    DatasetEntry,
    FileEntry,
    check_url,
    file_mode,
    safe_join,
    update_manifest,
)
from neurofacedis.data.validate import ValidationReport, validate_files
from neurofacedis.errors import InputError

__all__ = ["PackResult", "pack_files", "dandi_path", "dandi_label", "write_dandiset_stub",
           "DANDI_LABEL"]

#: Allowed subject/session labels in DANDI paths: letters, digits and '-' ('_' separates
#: entities, so it may not appear inside a label).
DANDI_LABEL = re.compile(r"^[A-Za-z0-9-]+$")


@dataclass(frozen=True)
class PackResult:
    """What :func:`pack_files` did."""

    entry: DatasetEntry
    manifest: Path
    files: tuple[tuple[Path, Path], ...]  # (source, file the manifest entry describes)
    report: ValidationReport
    notes: tuple[str, ...] = field(default=())


def dandi_path(subject: str, session: str) -> str:
    """DANDI's relative path for one session file: ``sub-<s>/sub-<s>_ses-<t>.nwb``."""
    for what, label in (("subject", subject), ("session", session)):
        if not DANDI_LABEL.match(label):
            raise InputError(
                f"DANDI {what} label {label!r} may only hold letters, digits and '-'",
                obj="subject" if what == "subject" else "sessions",
            )
    return f"sub-{subject}/sub-{subject}_ses-{session}.nwb"


def _copy(src: Path, dst: Path, sha: str) -> None:
    """Copy atomically; an existing identical file is kept, anything else refused."""
    if os.path.lexists(dst):  # nothing already there is ever replaced
        if not dst.is_file():
            raise InputError("exists and is not a file; remove it first", file=dst)
        if file_sha256(dst) == sha:
            return
        raise InputError("exists with different content; remove it first", file=dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    mode = file_mode(dst)
    fd, tmp = tempfile.mkstemp(prefix=f".{dst.name}.", dir=dst.parent)
    os.close(fd)
    try:
        shutil.copyfile(src, tmp)
        os.chmod(tmp, mode)
        os.replace(tmp, dst)
    finally:
        Path(tmp).unlink(missing_ok=True)


def _file_labels(paths: Sequence[Path]) -> list[tuple[str | None, str | None]]:
    """Each file's own ``(subject_id, session_id or identifier)``, as ``dandi organize`` reads."""
    from neurofacedis.data.validate import open_nwb

    out = []
    for p in paths:
        with open_nwb(p) as nwbfile:
            subject = getattr(nwbfile.subject, "subject_id", None) if nwbfile.subject else None
            session = nwbfile.session_id or nwbfile.identifier
            out.append((None if subject in (None, "") else str(subject),
                        None if session in (None, "") else str(session)))
    return out


def dandi_label(text: str) -> str:
    """Return a DANDI path label for free text: other characters become one '-'.

    As ``dandi organize`` sanitises ids (``mouse_01`` -> ``mouse-01``); leading and trailing
    '-' are dropped.
    """
    return re.sub(r"[^A-Za-z0-9-]+", "-", text).strip("-")


def write_dandiset_stub(folder: Path, *, name: str, description: str, license: str) -> Path | None:
    """Write ``folder/dandiset.yaml`` for ``dandi validate`` unless one is there (kept as is).

    A stub: identifier ``DANDI:000000`` and a placeholder contact person until the dandiset is
    registered and ``dandi download`` gives the real file. Returns the path written, or None.
    """
    import yaml

    path = folder / "dandiset.yaml"
    if os.path.lexists(path):
        return None
    stub = {"identifier": "DANDI:000000", "name": name[:150], "description": description[:3000],
            "license": [f"spdx:{license}"],
            "contributor": [{"name": "Lastname, Firstname", "roleName": ["dcite:ContactPerson"],
                             "schemaKey": "Person"}]}
    text = ("# Stub written by `neurofacedis data pack --dandi-layout` so that `dandi validate`\n"
            "# runs on this folder. Replace it with the dandiset.yaml that `dandi download`\n"
            "# gives once the dandiset is registered (identifier, contributors).\n"
            + yaml.safe_dump(stub, sort_keys=False, allow_unicode=True))
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".dandiset.", dir=folder)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)
    return path


def pack_files(
    paths: Sequence[str | Path],
    *,
    name: str,
    manifest: str | Path = "data_manifest.yaml",
    description: str | None = None,
    license: str = "CC-BY-4.0",
    citation: str = "",
    doi: str | None = None,
    base_url: str | None = None,
    dandi_dir: str | Path | None = None,
    subject: str | None = None,
    sessions: Sequence[str] = (),
    validate: bool = True,
) -> PackResult:
    """Validate and hash NWB files and record them as dataset ``name`` in ``manifest``.

    Parameters
    ----------
    paths
        NWB (HDF5) files.
    name
        Dataset name (letters, digits, '.', '_', '-').
    manifest
        Manifest file to add the entry to (created when missing; other entries kept).
    description, license, citation, doi
        Written into the entry. DANDI offers the licences CC0-1.0 and CC-BY-4.0.
    base_url
        Where the files will be downloadable from (``<base_url>/<path>``), if known.
    dandi_dir, subject, sessions
        Copy the files to ``dandi_dir/sub-<subject>/sub-<subject>_ses-<session>.nwb`` and write
        a ``dandiset.yaml`` stub there (unless one exists). Labels come from each file, as
        ``dandi organize`` derives them (``subject.subject_id``; ``session_id``, else the
        identifier; other characters become '-'); ``subject`` overrides every file's subject,
        ``sessions`` (one per file) their sessions. Validation then uses nwbinspector's DANDI
        configuration.
    validate
        Refuse files with failing findings (default).

    Raises
    ------
    InputError
        Missing files, failing validation, bad labels, duplicate names, or a DANDI target that
        exists with other content.
    """
    files = _check_inputs(paths, manifest, base_url)
    dandi = dandi_dir is not None
    rel_paths = _relative_paths(files, name, subject, sessions) if dandi else [
        f.name for f in files]
    dupes = sorted({p for p in rel_paths if rel_paths.count(p) > 1})
    if dupes:
        raise InputError(f"two files would be packed as {dupes[0]}", obj=name)
    report = validate_files(files, dandi=dandi) if validate else ValidationReport()
    _refuse_failures(report)
    notes = _subject_notes(files, subject) if dandi else []
    if dandi:
        stub = write_dandiset_stub(
            Path(dandi_dir), name=name, license=license,
            description=description or f"{len(files)} NWB recording(s) packed with neurofacedis")
        notes.append(f"wrote {stub} (a stub: edit the contributors)" if stub else
                     f"kept the existing {Path(dandi_dir) / 'dandiset.yaml'}")
    entries, placed = [], []
    for f, rel in zip(files, rel_paths, strict=True):
        sha = file_sha256(f)
        target = safe_join(Path(dandi_dir), rel) if dandi else f
        if dandi:
            _copy(f, target, sha)
        entries.append(FileEntry(path=rel, sha256=sha, size=f.stat().st_size))
        placed.append((f, target))
    entry = _dataset_entry(
        name=name,
        description=description or f"{len(files)} NWB recording(s) packed with neurofacedis",
        kind="nwb",
        license=license,
        citation=citation,
        doi=doi,
        base_url=base_url,
        files=tuple(entries),
    )
    update_manifest(manifest, entry)
    return PackResult(entry, Path(manifest), tuple(placed), report, tuple(notes))


def _check_inputs(paths: Sequence[str | Path], manifest: str | Path,
                  base_url: str | None) -> list[Path]:
    """Refuse no files, folders, files linking to others, a bad manifest path or base URL."""
    from neurofacedis._outputs import check_output_file

    files = [Path(p) for p in paths]
    if not files:
        raise InputError("no files to pack", obj="paths")
    # the manifest is the one file pack replaces: never a packed file, never a folder
    check_output_file(manifest, inputs=files, overwrite=True, what="manifest")
    for f in files:
        if check_input_path(f, what="", folder="zarr").is_dir():
            raise InputError("a folder (Zarr): pack the HDF5 file", file=f)
        try:  # a shared file must be whole: links to other files are never packed
            check_links(f, follow_links=False)
        except InputError as exc:
            if "links to other files" not in exc.problem:
                raise
            what = exc.problem.split(":")[0]
            raise InputError(f"{what}: data pack never shares a file that links to others",
                             file=f, obj=exc.obj) from None
    if base_url is not None:
        try:
            check_url(base_url)
        except ValueError as exc:
            raise InputError(str(exc), obj="base_url") from None
    return files


def _relative_paths(files: Sequence[Path], name: str, subject: str | None,
                    sessions: Sequence[str]) -> list[str]:
    """DANDI paths of ``files``: each file's own labels, ``subject``/``sessions`` override."""
    if sessions and len(sessions) != len(files):
        raise InputError(
            f"`dandi_dir` needs one `sessions` per file when given ({len(files)} files, "
            f"{len(sessions)} sessions)",
            obj="sessions",
        )
    paths = []
    for i, (f, (own_subject, own_session)) in enumerate(zip(files, _file_labels(files),
                                                            strict=True)):
        sub = subject if subject is not None else own_subject and dandi_label(own_subject)
        if not sub:
            raise InputError("has no subject id (subject.subject_id): give `subject`",
                             file=f, obj="subject")
        ses = sessions[i] if sessions else own_session and dandi_label(own_session)
        if not ses:
            raise InputError("has no session id or identifier: give `sessions`", file=f,
                             obj="sessions")
        paths.append(dandi_path(sub, ses))
    return paths


def _refuse_failures(report: ValidationReport) -> None:
    if not report.ok:
        first = report.failures[0]
        raise InputError(
            f"validation failed ({len(report.failures)} failing findings; first: {first.check} "
            f"at {first.location}: {first.message}); see 'neurofacedis data validate'",
            file=first.file,
        )


def _subject_notes(files: Sequence[Path], subject: str | None) -> list[str]:
    """Say where a file's own subject_id differs from the label it is packed under."""
    return [
        f"{f.name}: subject_id in the file is {sid!r}, packed as {subject!r}"
        for f, (sid, _) in zip(files, _file_labels(files), strict=True)
        if subject is not None and sid is not None and sid != subject
    ]


def _dataset_entry(**fields: object) -> DatasetEntry:
    """Build the manifest entry; a field it refuses is one line naming that field."""
    try:
        return DatasetEntry(**fields)
    except ValueError as exc:  # pydantic ValidationError
        from pydantic import ValidationError

        if isinstance(exc, ValidationError):
            err = exc.errors()[0]
            raise InputError(
                str(err["msg"]).removeprefix("Value error, "),
                obj=".".join(str(x) for x in err["loc"]) or str(fields["name"]),
            ) from None
        raise
