"""Importing neurofacedis and discovering plugins stays light (after xarray's test_lazy_import).

Plugins import torch, sklearn... inside their functions; a plugin that imports torch at module
level makes every command (even `neurofacedis plugins`) pay seconds of start-up.
"""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("torch", "sklearn", "pynwb", "hdmf", "xarray", "matplotlib", "rsatoolbox", "dask")


def _loaded_after(code: str) -> dict:
    probe = (
        "import json, sys\n"
        f"{code}\n"
        f"print(json.dumps({{m: m in sys.modules for m in {HEAVY!r}}}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=300
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_import_neurofacedis_imports_nothing_heavy():
    loaded = _loaded_after("import neurofacedis")
    assert not any(loaded.values()), f"import neurofacedis loads {loaded}"


def test_plugin_discovery_does_not_import_torch():
    code = (
        "import neurofacedis, neurofacedis.registry\n"
        "registry = neurofacedis.registry.get_registry()\n"
        "assert registry.models and 'core' in registry.plugins"
    )
    loaded = _loaded_after(code)
    assert not loaded["torch"], (
        "get_registry() imported torch: a plugin imports it at module level "
        "(import it inside the functions that need it)"
    )
