"""Export an NWB (HDF5) file to Zarr with hdmf-zarr, for cloud storage and parallel reads.

The export goes through hdmf-zarr's ``ZarrIO.export`` with pynwb's type map (what
``NWBZarrIO.export`` does; NWBZarrIO 0.13 drops ``object_codec_class``), copies every
dataset (no links back into the HDF5 source), stores object arrays (strings, references)
with the JSON codec instead of hdmf-zarr's default Pickle (no pickle anywhere), keeps the
cached schema (ndx-neurofacedis included), and is written into a temporary folder that is
renamed into place, so a failed export leaves nothing. Zarr recordings open everywhere a
recording does (``Recording.open``, ``analyze``, ``data validate``).

The store carries the project's output marker (``neurofacedis-output.json``, ignored by
Zarr); ``overwrite`` replaces only a regular file or an earlier export that holds nothing
else, never the source, a folder holding it, or any other folder
(:mod:`neurofacedis._outputs`).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from neurofacedis.errors import InputError

__all__ = ["export_zarr"]

#: The kind of output an export writes (in its marker).
KIND = "zarr-export"


def export_zarr(source: str | Path, out: str | Path, *, overwrite: bool = False) -> Path:
    """Write a Zarr copy of the NWB file ``source`` at ``out`` and return ``out``.

    Parameters
    ----------
    source
        An NWB HDF5 file.
    out
        The Zarr folder to create (by convention ``NAME.nwb.zarr`` or ``NAME.zarr``).
    overwrite
        Replace an existing ``out``: a regular file or an earlier export (nothing else).

    Raises
    ------
    InputError
        Missing or unreadable source, source that is already Zarr, an existing ``out``
        without ``overwrite``, or an ``out`` that is, holds or lies inside the source or is
        a folder neurofacedis did not write.
    """
    from neurofacedis._outputs import (
        check_output_folder,
        output_lock,
        swap_into_place,
        write_marker,
    )
    from neurofacedis.cache import uninterrupted

    source, out = Path(source), Path(out)
    if not source.is_file():
        raise InputError("no such NWB (HDF5) file", file=source)
    check_output_folder(out, kind=KIND, inputs=[source], overwrite=overwrite, what="out")
    out.parent.mkdir(parents=True, exist_ok=True)

    from hdmf_zarr import ZarrIO
    from numcodecs import JSON
    from pynwb import NWBHDF5IO, get_manager

    import neurofacedis.nwb._schema  # noqa: F401 (registers the extension's classes)

    tmp = None
    try:
        with uninterrupted():  # the folder exists only once the cleanup below covers it
            tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
        target = tmp / out.name
        try:
            read_io = NWBHDF5IO(str(source), mode="r", load_namespaces=True)
        except Exception as exc:  # noqa: BLE001 (any read failure is the file's problem)
            problem = f"not a readable NWB file ({type(exc).__name__})"
            raise InputError(problem, file=source) from None
        with read_io, ZarrIO(
            str(target), mode="w", manager=get_manager(), object_codec_class=JSON
        ) as export_io:
            export_io.export(src_io=read_io, write_args={"link_data": False})
        write_marker(target, kind=KIND)
        with output_lock(out), uninterrupted():
            check_output_folder(out, kind=KIND, inputs=[source], overwrite=overwrite,
                                what="out")  # as it is now, under the lock
            swap_into_place(target, out)
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    return out
