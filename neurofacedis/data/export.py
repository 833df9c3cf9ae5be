"""Export an NWB (HDF5) file to Zarr with hdmf-zarr, for cloud storage and parallel reads.

The export goes through hdmf-zarr's ``ZarrIO.export`` with pynwb's type map (what
``NWBZarrIO.export`` does; NWBZarrIO 0.13 drops ``object_codec_class``), copies every
dataset (no links back into the HDF5 source), stores object arrays (strings, references)
with the JSON codec instead of hdmf-zarr's default Pickle (no pickle anywhere), keeps the
cached schema (ndx-neurofacedis included), and is written into a temporary folder that is
renamed into place, so a failed export leaves nothing. Zarr recordings open everywhere a
recording does (``Recording.open``, ``analyze``, ``data validate``).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from neurofacedis.errors import InputError

__all__ = ["export_zarr"]


def export_zarr(source: str | Path, out: str | Path, *, overwrite: bool = False) -> Path:
    """Write a Zarr copy of the NWB file ``source`` at ``out`` and return ``out``.

    Parameters
    ----------
    source
        An NWB HDF5 file.
    out
        The Zarr folder to create (by convention ``NAME.nwb.zarr`` or ``NAME.zarr``).
    overwrite
        Replace an existing ``out``.

    Raises
    ------
    InputError
        Missing or unreadable source, source that is already Zarr, or an existing ``out``.
    """
    source, out = Path(source), Path(out)
    if not source.is_file():
        raise InputError("no such NWB (HDF5) file", file=source)
    if out.exists() and not overwrite:
        raise InputError("already exists (pass --overwrite to replace it)", file=out)
    if out.resolve() == source.resolve():
        raise InputError("output is the source", file=out)
    out.parent.mkdir(parents=True, exist_ok=True)

    from hdmf_zarr import ZarrIO
    from numcodecs import JSON
    from pynwb import NWBHDF5IO, get_manager

    import neurofacedis.nwb._schema  # noqa: F401 (registers the extension's classes)

    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    target = tmp / out.name
    try:
        try:
            read_io = NWBHDF5IO(str(source), mode="r", load_namespaces=True)
        except Exception as exc:  # noqa: BLE001 (any read failure is the file's problem)
            problem = f"not a readable NWB file ({type(exc).__name__})"
            raise InputError(problem, file=source) from None
        with read_io, ZarrIO(
            str(target), mode="w", manager=get_manager(), object_codec_class=JSON
        ) as export_io:
            export_io.export(src_io=read_io, write_args={"link_data": False})
        if out.exists():
            shutil.rmtree(out) if out.is_dir() else out.unlink()
        target.rename(out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out
