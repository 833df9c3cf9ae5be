"""docs/architecture.md matches the tree (issue 19): every module the picture names exists, and
every module and package of neurofacedis/ is named in it."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "architecture.md"
CORE = ROOT / "neurofacedis"


def _picture() -> str:
    """The text blocks of the doc (the picture and the step lists), where modules are named."""
    text = DOC.read_text(encoding="utf-8")
    return "\n".join(re.findall(r"```text\n(.*?)```", text, flags=re.S))


def _named(picture: str) -> set[str]:
    """Paths relative to neurofacedis/ that the picture names, as 'pkg/mod.py' or 'mod.py'.

    A full ``neurofacedis/...`` token names itself; a bare ``mod.py`` belongs to the package of
    the last ``neurofacedis/pkg/`` header (reset by any full module path on a line).
    """
    names: set[str] = set()
    package = ""
    for line in picture.splitlines():
        full = re.findall(r"neurofacedis/([\w/]+(?:\.py)?)", line)
        for token in full:
            names.add(token)
        if full:  # a header line sets the package; a line naming full modules resets it
            package = full[-1] if full[-1].endswith("/") else ""
        rest = re.sub(r"neurofacedis/[\w/]+(?:\.py)?", " ", line)
        rest = re.sub(r"plugins/\S+", " ", rest)
        for mod in re.findall(r"(?<![\w/.])(\w+\.py)\b", rest):
            names.add(package + mod)
    return names


def test_every_module_named_in_the_picture_exists():
    missing = sorted(n for n in _named(_picture()) if not (CORE / n).exists())
    assert not missing, f"docs/architecture.md names modules that do not exist: {missing}"


def test_every_module_of_the_core_is_in_the_picture():
    text = DOC.read_text(encoding="utf-8")
    named = _named(_picture())
    shims = set(re.findall(r"`neurofacedis/(\w+\.py)`\s*\(→", text))
    absent = []
    for path in sorted(CORE.rglob("*.py")):
        rel = path.relative_to(CORE).as_posix()
        if path.name == "__init__.py":
            if path.parent == CORE:
                continue
            rel = path.parent.relative_to(CORE).as_posix() + "/"
            if rel not in named:
                absent.append(rel)
            continue
        if path.name == "__main__.py" or rel.startswith("studies/"):
            continue  # studies are named as a package; their modules are the study's own
        if rel not in named and rel not in shims:
            absent.append(rel)
    assert not absent, f"docs/architecture.md does not name: {absent}"


def test_the_parser_reads_packages_and_their_modules():
    picture = " neurofacedis/nwb/   reader\n   _recording.py _units.py\n neurofacedis/stats.py  x\n"
    assert _named(picture) == {"nwb/", "nwb/_recording.py", "nwb/_units.py", "stats.py"}
