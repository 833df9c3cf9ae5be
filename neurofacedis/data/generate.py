"""Regenerate a ``generated`` manifest dataset through the dataset hook (no command lines).

A manifest's ``generate: {dataset: NAME, params: {...}}`` names a
:class:`~neurofacedis.specs.DatasetSpec` registered through ``neurofacedis_register_datasets``;
:func:`resolve_generator` finds it in the registry and checks the parameters against its
declared :class:`~neurofacedis.specs.Param` list (names and types; nothing else reaches the
loader). :func:`run_generator` calls the loader on a fresh temporary folder that the fetcher
creates inside the destination, and hands back the files the manifest expects, found by
:func:`~neurofacedis.data.manifest.safe_join` (so never outside that folder). The manifest
chooses no output path and no program: it is data only.
"""

from __future__ import annotations

import difflib
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from neurofacedis.data.manifest import DatasetEntry, safe_join
from neurofacedis.errors import InputError, NeurofacedisError, PluginError

__all__ = ["ResolvedGenerator", "resolve_generator", "run_generator", "check_params"]


@dataclass(frozen=True)
class ResolvedGenerator:
    """A registered dataset and the checked keyword parameters for its loader."""

    name: str
    plugin: str
    loader: Any
    params: Mapping[str, Any]


def _type_ok(value: Any, kind: type) -> bool:
    """``value`` fits a Param of type ``kind`` (a bool is no int; an int is a fine float)."""
    if kind is bool:
        return isinstance(value, bool)
    if isinstance(value, bool):
        return False
    if kind is float:
        return isinstance(value, (int, float))
    return isinstance(value, kind)


def check_params(
    spec: Any, given: Mapping[str, Any], *, file: str | Path | None = None, where: str = ""
) -> dict[str, Any]:
    """Check ``given`` against ``spec.params``; return the defaults updated with them.

    Raises
    ------
    InputError
        An unknown name (with the closest known one), a value of the wrong type, or a value
        outside the declared choices; ``where`` prefixes the object named in the message.
    """
    declared = {p.name: p for p in spec.params}
    out = {p.name: p.default for p in spec.params}
    for key, value in given.items():
        obj = f"{where}params.{key}"
        param = declared.get(key)
        if param is None:
            close = difflib.get_close_matches(key, list(declared), n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise InputError(
                f"unknown parameter {key!r} of dataset {spec.name!r}{hint} parameters: "
                f"{', '.join(declared) or 'none'}",
                file=file,
                obj=obj,
            )
        if not _type_ok(value, param.type):
            raise InputError(
                f"expected {param.type.__name__}, got {type(value).__name__} {value!r}",
                file=file,
                obj=obj,
            )
        if param.type is float:
            value = float(value)
        if param.choices is not None and value not in param.choices:
            raise InputError(
                f"{value!r} is not one of {list(param.choices)}", file=file, obj=obj
            )
        out[key] = value
    return out


def resolve_generator(
    entry: DatasetEntry, *, file: str | Path | None = None, registry: Any = None
) -> ResolvedGenerator:
    """Find ``entry.generate.dataset`` in the registry and check its parameters.

    Nothing is written. ``registry`` defaults to :func:`neurofacedis.registry.get_registry`.

    Raises
    ------
    InputError
        No ``generate`` section, an unregistered dataset (with the installed names), or bad
        parameters; the message names the manifest entry.
    """
    gen = entry.generate
    where = f"{entry.name}: generate."
    if gen is None:
        raise InputError("no 'generate' section", file=file, obj=entry.name)
    if registry is None:
        from neurofacedis.registry import get_registry

        registry = get_registry()
    try:
        found = registry.dataset(gen.dataset)
    except NeurofacedisError as exc:
        raise InputError(exc.problem, file=file, obj=f"{where}dataset") from None
    params = check_params(found.spec, gen.params, file=file, where=where)
    return ResolvedGenerator(found.name, found.plugin, found.spec.loader, params)


def run_generator(
    gen: ResolvedGenerator, dest: Path, expected: Sequence[str]
) -> tuple[Path, dict[str, Path]]:
    """Run the loader in a new temporary folder inside ``dest``; return it and the files.

    The caller moves the files into place and removes the folder (:func:`discard`). On any
    error the folder is removed here and nothing in ``dest`` has changed.

    Returns
    -------
    (folder, files)
        The temporary folder and ``relative path -> file`` for every path in ``expected``.

    Raises
    ------
    InputError
        The loader did not write an expected file (or wrote something that is not a file).
    PluginError
        The loader raised an unexpected exception (the plugin is named).
    """
    work = Path(tempfile.mkdtemp(prefix=".generate-", dir=dest))
    try:
        try:
            gen.loader(work, **gen.params)
        except NeurofacedisError:
            raise
        except Exception as exc:  # noqa: BLE001 - plugin code: name the plugin, one line
            text = str(exc).strip().splitlines()
            raise PluginError(
                f"dataset {gen.name!r} (plugin {gen.plugin!r}) failed: "
                f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")
            ) from exc
        files = {}
        for rel in expected:
            path = safe_join(work, rel)
            if not path.is_file() or path.is_symlink():
                raise InputError(
                    f"dataset {gen.name!r} did not write this file (it wrote: "
                    f"{', '.join(_listing(work)) or 'nothing'})",
                    obj=rel,
                )
            files[rel] = path
    except BaseException:
        discard(work)
        raise
    return work, files


def _listing(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())[:5]


def discard(work: Path) -> None:
    """Remove a temporary folder made by :func:`run_generator` (and nothing else)."""
    if work.name.startswith(".generate-") and work.is_dir() and not work.is_symlink():
        shutil.rmtree(work, ignore_errors=True)
