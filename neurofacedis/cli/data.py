"""``neurofacedis data ...``: the typer sub-app for sharing datasets. Thin: parse, call, print.

Errors are :class:`~neurofacedis.errors.NeurofacedisError` (one line, exit code 2, rendered
by :func:`neurofacedis.cli.main`); ``validate`` exits 1 when it has failing findings. Paths,
names and messages are printed as they are (never read as rich markup).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from neurofacedis.cli._render import QUIET_HELP, line, new_app, out, print_table

__all__ = ["app"]

app = new_app("data", "Share datasets: list, fetch, validate, pack, export (see docs/sharing.md).")

_MANIFEST_HELP = "Manifest file (default: the one shipped with neurofacedis)."


@app.command("list")
def list_(
    manifest: Annotated[Path | None, typer.Option("--manifest", help=_MANIFEST_HELP)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the manifest as JSON.")] = False,
) -> None:
    """List the datasets in the manifest."""
    from rich.table import Table
    from rich.text import Text

    from neurofacedis.data.manifest import load_manifest

    m = load_manifest(manifest)
    if as_json:
        typer.echo(m.model_dump_json(indent=2, exclude_defaults=True))
        return
    table = Table(title=Text(f"datasets (manifest schema {m.schema_version})"))
    for col in ("name", "kind", "files", "status", "licence", "doi"):
        table.add_column(col, overflow="fold")
    for d in m.datasets:
        status = (
            "request"
            if d.access == "request"
            else (
                "unverified"
                if any(f.sha256 is None for f in d.files) or d.unverified
                else "verified"
            )
        )
        cells = (d.name, d.kind, str(len(d.files)), status, d.license, d.doi or "")
        table.add_row(*(Text(c) for c in cells))
    print_table(table)


@app.command()
def fetch(
    name: Annotated[str, typer.Argument(help="Dataset name (see 'neurofacedis data list').")],
    dest: Annotated[
        Path | None,
        typer.Option("--dest", "-d", help="Destination folder (default: the user cache)."),
    ] = None,
    manifest: Annotated[Path | None, typer.Option("--manifest", help=_MANIFEST_HELP)] = None,
    allow_unverified: Annotated[
        bool,
        typer.Option(
            "--allow-unverified", help="Fetch files without a sha256; record the hash seen."
        ),
    ] = False,
    base_url: Annotated[
        str | None, typer.Option("--base-url", help="Download every file from URL/<path>.")
    ] = None,
    allow_local_urls: Annotated[
        bool,
        typer.Option(
            "--allow-local-urls",
            help="Copy file:/// URLs (files of this machine); only for your own manifest.",
        ),
    ] = False,
    max_size: Annotated[
        int | None,
        typer.Option(
            "--max-size", min=1,
            help="Most bytes read for a file whose size the manifest does not declare "
            "[default: 1 GiB]; a larger declared size is refused.",
        ),
    ] = None,
    timeout: Annotated[
        float,
        typer.Option("--timeout", min=0.001, help="Seconds each file may take, overall."),
    ] = 3600.0,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help=QUIET_HELP)] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the fetched files as JSON.")
    ] = False,
) -> None:
    """Download (or regenerate) dataset NAME, checking every file's sha256."""
    from neurofacedis.data.fetch import fetch_dataset

    res = fetch_dataset(
        name,
        dest=dest,
        manifest=manifest,
        allow_unverified=allow_unverified,
        base_url=base_url,
        progress=not (quiet or as_json),
        allow_local_urls=allow_local_urls,
        max_size=max_size,
        timeout=timeout,
    )
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "dataset": res.dataset,
                    "dest": str(res.dest),
                    "lock_file": str(res.lock_file),
                    "files": [
                        {
                            "path": str(f.path),
                            "sha256": f.sha256,
                            "size": f.size,
                            "digest": f.digest,
                            "verified": f.verified,
                        }
                        for f in res.files
                    ],
                },
                indent=2,
            )
        )
        return
    for f in res.files:
        mark = ("verified", "green") if f.verified else ("unverified", "yellow")
        out(line(mark, f" {f.path}  sha256 {f.sha256}  ({f.size} bytes)"))
    for note in res.notes:
        out(line((note, "yellow")))


@app.command()
def validate(
    files: Annotated[list[Path], typer.Argument(help="NWB files (.nwb) or Zarr folders.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the findings as JSON.")] = False,
    dandi: Annotated[
        bool, typer.Option("--dandi", help="Use nwbinspector's DANDI configuration.")
    ] = False,
    failures_only: Annotated[
        bool, typer.Option("--failures-only", help="Hide passing checks.")
    ] = False,
    quick: Annotated[
        bool, typer.Option("--quick", help="Skip reading every chunk of every dataset.")
    ] = False,
    follow_links: Annotated[
        bool,
        typer.Option("--follow-links", help="Read links to other files (listed with sha256)."),
    ] = False,
) -> None:
    """Check files with nwbinspector and the project's own checks; exit 1 on failures."""
    from neurofacedis.data.validate import validate_files

    report = validate_files(files, dandi=dandi, quick=quick, follow_links=follow_links)
    if as_json:
        typer.echo(report.to_json())
    else:
        print_table(_findings_table(report, show_ok=not failures_only))
    if not report.ok:
        raise typer.Exit(1)


@app.command()
def pack(
    files: Annotated[list[Path], typer.Argument(help="NWB files to share.")],
    name: Annotated[str, typer.Option("--name", help="Dataset name in the manifest.")],
    manifest: Annotated[
        Path, typer.Option("--manifest", help="Manifest to add the entry to.")
    ] = Path("data_manifest.yaml"),
    description: Annotated[
        str | None, typer.Option("--description", help="What the dataset is.")
    ] = None,
    license: Annotated[
        str, typer.Option("--license", help="Licence (DANDI: CC0-1.0, CC-BY-4.0).")
    ] = "CC-BY-4.0",
    citation: Annotated[str, typer.Option("--citation", help="How to cite the dataset.")] = "",
    doi: Annotated[
        str | None, typer.Option("--doi", help="DOI of the dataset or its paper.")
    ] = None,
    base_url: Annotated[
        str | None, typer.Option("--base-url", help="Where the files will be served.")
    ] = None,
    dandi_layout: Annotated[
        Path | None,
        typer.Option("--dandi-layout", help="Copy files to DIR/sub-<id>/sub-<id>_ses-<id>.nwb "
                     "(labels from each file; a dandiset.yaml stub when DIR has none)."),
    ] = None,
    subject: Annotated[str | None, typer.Option(
        "--subject", help="DANDI subject label for every file [default: each file's "
        "subject_id].")] = None,
    session: Annotated[list[str] | None, typer.Option(
        "--session", help="DANDI session label, one per file [default: each file's session "
        "id, else identifier].")] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the manifest entry as JSON.")
    ] = False,
) -> None:
    """Validate FILES, hash them and add/update dataset NAME in the manifest."""
    from neurofacedis.data.pack import pack_files

    res = pack_files(
        files,
        name=name,
        manifest=manifest,
        description=description,
        license=license,
        citation=citation,
        doi=doi,
        base_url=base_url,
        dandi_dir=dandi_layout,
        subject=subject,
        sessions=session or (),
    )
    if as_json:
        typer.echo(res.entry.model_dump_json(indent=2, exclude_defaults=True))
        return
    for (src, dst), f in zip(res.files, res.entry.files, strict=True):
        where = f" -> {dst}" if dst != src else ""
        out(f"{src}{where}  sha256 {f.sha256}  ({f.size} bytes)")
    for note in res.notes:
        out(line((note, "yellow")))
    out(f"manifest entry {res.entry.name!r} written to {res.manifest}")


@app.command()
def export(
    file: Annotated[Path, typer.Argument(help="NWB (HDF5) file.")],
    zarr: Annotated[Path, typer.Option("--zarr", help="Zarr folder to write (e.g. OUT.nwb.zarr).")],
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace an existing folder.")
    ] = False,
) -> None:
    """Write a Zarr copy of an NWB file (hdmf-zarr); it analyses like the original."""
    from neurofacedis.data.export import export_zarr

    written = export_zarr(file, zarr, overwrite=overwrite)
    out(f"wrote {written}")


def _findings_table(report: Any, *, show_ok: bool = True) -> Any:
    """Build the findings table, one row each, failures first within each file (plain text)."""
    from rich.table import Table
    from rich.text import Text

    style = {"fail": "bold red", "warn": "yellow", "ok": "green"}
    files = list(dict.fromkeys(f.file for f in report.findings))
    verdict = "all checks passed" if report.ok else f"{len(report.failures)} failing finding(s)"
    title = f"{files[0] if len(files) == 1 else f'{len(files)} files'}: {verdict}"
    table = Table(title=Text(title))
    if len(files) > 1:
        table.add_column("file", overflow="fold")
    table.add_column("status", no_wrap=True)
    for column in ("check", "where", "finding"):
        table.add_column(column, overflow="fold")
    order = {"fail": 0, "warn": 1, "ok": 2}
    for name in files:
        rows = sorted((f for f in report.findings if f.file == name), key=lambda f: order[f.status])
        for f in rows:
            if f.status == "ok" and not show_ok:
                continue
            cells = [Text(f.status, style[f.status]), Text(f.check), Text(f.location),
                     Text(f.message)]
            table.add_row(*([Text(Path(f.file).name)] if len(files) > 1 else []), *cells)
    return table
