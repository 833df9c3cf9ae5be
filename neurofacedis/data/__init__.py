"""Sharing datasets: the manifest, fetch, validate, pack and export.

``data_manifest.yaml`` lists the datasets neurofacedis knows (:mod:`.manifest`);
:func:`fetch_dataset` downloads or regenerates one and checks its hashes; :func:`validate_files`
runs nwbinspector plus the project's own checks; :func:`pack_files` hashes files into a
manifest entry (optionally in DANDI's layout); :func:`export_zarr` writes a Zarr copy of an
NWB file. Names resolve lazily so importing this package stays cheap.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__all__ = [
    "Manifest",
    "DatasetEntry",
    "FileEntry",
    "load_manifest",
    "update_manifest",
    "default_manifest_path",
    "fetch_dataset",
    "FetchResult",
    "validate_files",
    "ValidationReport",
    "pack_files",
    "PackResult",
    "export_zarr",
    "content_sha256",
    "file_sha256",
]

_WHERE = {
    "Manifest": "manifest",
    "DatasetEntry": "manifest",
    "FileEntry": "manifest",
    "load_manifest": "manifest",
    "update_manifest": "manifest",
    "default_manifest_path": "manifest",
    "fetch_dataset": "fetch",
    "FetchResult": "fetch",
    "file_sha256": "fetch",
    "validate_files": "validate",
    "ValidationReport": "validate",
    "pack_files": "pack",
    "PackResult": "pack",
    "export_zarr": "export",
    "content_sha256": "digest",
}

if TYPE_CHECKING:
    from neurofacedis.data.digest import content_sha256
    from neurofacedis.data.export import export_zarr
    from neurofacedis.data.fetch import FetchResult, fetch_dataset, file_sha256
    from neurofacedis.data.manifest import (
        DatasetEntry,
        FileEntry,
        Manifest,
        default_manifest_path,
        load_manifest,
        update_manifest,
    )
    from neurofacedis.data.pack import PackResult, pack_files
    from neurofacedis.data.validate import ValidationReport, validate_files


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(import_module(f"neurofacedis.data.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'neurofacedis.data' has no attribute {name!r}")
