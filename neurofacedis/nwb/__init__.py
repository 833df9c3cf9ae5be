"""NWB in and out: the ndx-neurofacedis extension, lazy recordings, latents and results.

Importing this package loads the extension namespace once (``schemas/``); ``import
neurofacedis`` alone does not import pynwb.
"""

from __future__ import annotations

from neurofacedis.nwb._analysis import RESULTS_MODULE, LatentsData, add_latents, write_analysis
from neurofacedis.nwb._recording import (
    PRESENTATION_INDEX_COLUMNS,
    Recording,
    open_nwb,
    read_session,
)
from neurofacedis.nwb._schema import NAMESPACE, namespace_path  # loads the namespace
from neurofacedis.nwb._spikes import count_responses, repeat_numbers
from neurofacedis.nwb._write import MODULE, file_sha256, metadata_defaults, write_session
from neurofacedis.nwb.session import DEFAULT_WINDOW, SessionData, SessionMetadata

__all__ = [
    "NAMESPACE",
    "MODULE",
    "RESULTS_MODULE",
    "DEFAULT_WINDOW",
    "PRESENTATION_INDEX_COLUMNS",
    "SessionData",
    "SessionMetadata",
    "Recording",
    "LatentsData",
    "write_session",
    "read_session",
    "write_analysis",
    "add_latents",
    "file_sha256",
    "count_responses",
    "repeat_numbers",
    "metadata_defaults",
    "namespace_path",
    "open_nwb",
]
