"""Reproduced studies: ``neurofacedis reproduce NAME`` runs the study package ``NAME`` here.

A study is a subpackage of :mod:`neurofacedis.studies` (``higgins2021``) built on the public
API only: its ``__init__`` provides ``reproduce(recording=None, *, scale, out, ...)`` returning
a :class:`~neurofacedis.studies.base.Reproduction`, and ``PRESETS`` (its scales). Studies are
found by listing this folder, so adding one is adding a package (docs/architecture.md).
"""

from __future__ import annotations

import difflib
import importlib
import pkgutil
from pathlib import Path
from types import ModuleType
from typing import Any

from neurofacedis.errors import UnknownNameError
from neurofacedis.studies.base import Claim, Reproduction

__all__ = ["available", "load", "reproduce", "Claim", "Reproduction"]


def available() -> tuple[str, ...]:
    """Return the names of the studies installed here, sorted (nothing is imported)."""
    return tuple(sorted(m.name for m in pkgutil.iter_modules(__path__)
                        if m.ispkg and not m.name.startswith("_")))


def load(study: str) -> ModuleType:
    """Import a study's package; an unknown name lists the studies and the closest one."""
    names = available()
    if study not in names:
        close = difflib.get_close_matches(study, names, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise UnknownNameError(f"unknown study {study!r} (available: {', '.join(names)}){hint}",
                               obj="reproduce")
    return importlib.import_module(f"{__name__}.{study}")


def reproduce(study: str = "higgins2021", recording: str | Path | None = None,
              **options: Any) -> Reproduction:
    """Run a reference study: its comparison grid, its figures and a check of each claim.

    Parameters
    ----------
    study
        A name from :func:`available` (``"higgins2021"``).
    recording
        An NWB recording; None: the study simulates its own.
    **options
        The study's own options (``scale``, ``world``, ``out``, ``seed``, ``train_images``,
        ``workers``, ``scheduler``, ``cache_dir``, ``quiet``, ``console``; see
        :func:`neurofacedis.studies.higgins2021.reproduce`).
    """
    return load(study).reproduce(recording, **options)
