"""Docs enforced by tests (after datasette's test_plugin_hooks_are_documented).

The hook reference in docs/plugins.md is generated from the hookspec docstrings; when it is
stale, regenerate it with ``python tests/test_hookspecs_documented.py --write``.
"""

from __future__ import annotations

import inspect
import re
import sys
from pathlib import Path

import pytest

from neurofacedis import hookspecs

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "plugins.md"
BEGIN = (
    "<!-- hook-reference: generated from neurofacedis/hookspecs.py by "
    "`python tests/test_hookspecs_documented.py --write`; do not edit by hand -->"
)
END = "<!-- end hook-reference -->"


def hook_functions() -> list:
    """Every hookspec in source order."""
    found = [
        f
        for name, f in vars(hookspecs).items()
        if name.startswith("neurofacedis_") and inspect.isfunction(f)
    ]
    return sorted(found, key=lambda f: f.__code__.co_firstlineno)


def _roles(text: str) -> str:
    """Sphinx roles (:func:`~a.b`) to markdown code spans."""
    return re.sub(
        r":\w+:`~?([^`]+)`", lambda m: "`" + re.sub(r"\s+", "", m.group(1)) + "`", text
    )


def _paragraphs(lines: list[str]) -> list[str]:
    out, cur = [], []
    for line in lines:
        if line.strip():
            cur.append(line.strip())
        elif cur:
            out.append(" ".join(cur))
            cur = []
    if cur:
        out.append(" ".join(cur))
    return [_roles(p) for p in out]


def render_hook(func) -> str:
    """Markdown for one hook: heading with signature, description, numpy sections as lists."""
    sig = inspect.signature(func)
    ret = sig.return_annotation
    ret = ret if isinstance(ret, str) else getattr(ret, "__name__", str(ret))
    params = ", ".join(sig.parameters)
    parts = [f"### `{func.__name__}({params}) -> {ret}`", ""]
    opts = getattr(func, f"{hookspecs.PROJECT_NAME}_spec", {}) or {}
    if opts.get("firstresult"):
        parts += ["*firstresult*: the first non-None result wins.", ""]
    lines = inspect.cleandoc(func.__doc__ or "").splitlines()
    body: list[str] = []
    i = 0
    while i < len(lines):
        if i + 1 < len(lines) and lines[i].strip() and set(lines[i + 1].strip()) == {"-"}:
            parts += [p + "\n" for p in _paragraphs(body)]
            body = []
            section = lines[i].strip()
            i += 2
            items: list[tuple[str, list[str]]] = []
            while i < len(lines) and not (
                i + 1 < len(lines) and lines[i].strip() and set(lines[i + 1].strip()) == {"-"}
            ):
                line = lines[i]
                if line.strip() and not line.startswith(" "):
                    items.append((line.strip(), []))
                elif line.strip() and items:
                    items[-1][1].append(line)
                i += 1
            parts.append(f"**{section}**\n")
            for term, desc in items:
                text = " ".join(_paragraphs(desc))
                parts.append(f"- `{term}`: {text}" if text else f"- `{term}`")
            parts.append("")
            continue
        body.append(lines[i])
        i += 1
    parts += [p + "\n" for p in _paragraphs(body)]
    return "\n".join(parts).rstrip() + "\n"


def hook_reference() -> str:
    """The generated reference section, markers included."""
    hooks = "\n".join(render_hook(f) for f in hook_functions())
    return f"{BEGIN}\n\n{hooks}\n{END}"


def _current_section(text: str) -> str:
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < 0:
        return ""
    return text[start : end + len(END)]


def test_every_hook_is_prefixed_and_typed():
    funcs = hook_functions()
    assert [f.__name__ for f in funcs] == [
        "neurofacedis_register_models",
        "neurofacedis_register_metrics",
        "neurofacedis_register_datasets",
        "neurofacedis_register_requirements",
    ]
    for f in funcs:
        assert getattr(f, f"{hookspecs.PROJECT_NAME}_spec", None) is not None, f.__name__
        assert inspect.signature(f).return_annotation != inspect.Signature.empty


@pytest.mark.parametrize("func", hook_functions(), ids=lambda f: f.__name__)
def test_every_hook_docstring_says_when_and_returns(func):
    doc = inspect.getdoc(func) or ""
    assert "Called" in doc, f"{func.__name__}: docstring must say when it is called"
    assert "Returns\n-------" in doc, f"{func.__name__}: docstring lacks a Returns section"
    for name in inspect.signature(func).parameters:
        assert re.search(rf"^{name}\b", doc, re.M), f"{func.__name__}: {name} undocumented"


@pytest.mark.parametrize("func", hook_functions(), ids=lambda f: f.__name__)
def test_every_hook_is_documented(func):
    assert f"### `{func.__name__}(" in DOC.read_text(encoding="utf-8")


def test_hook_reference_is_up_to_date():
    current = _current_section(DOC.read_text(encoding="utf-8"))
    assert current, f"{DOC}: no generated hook reference section"
    assert current == hook_reference(), (
        "docs/plugins.md hook reference is stale: run "
        "`python tests/test_hookspecs_documented.py --write`"
    )


@pytest.mark.parametrize("func", hook_functions(), ids=lambda f: f.__name__)
def test_every_hook_has_tests(func):
    # datasette's test_plugin_hooks_have_tests: some test other than this file uses the hook
    tests = [*ROOT.glob("tests/test_*.py"), *ROOT.glob("plugins/*/tests/test_*.py")]
    users = [
        p for p in tests
        if p.name != Path(__file__).name and func.__name__ in p.read_text(encoding="utf-8")
    ]
    assert users, f"no test exercises {func.__name__}"


def test_plugins_md_explains_model_and_metric_plugins_end_to_end():
    text = DOC.read_text(encoding="utf-8")
    for needle in (
        "neurofacedis_register_models",
        "neurofacedis_register_metrics",
        "[project.entry-points.neurofacedis]",
        "neurofacedis.testing",
        "check_model",
        "check_metric",
        "neurofacedis plugins",
        "def encode",
        "def compute",
        "docs/examples/nfd-example-plugin",
    ):
        assert needle in text, f"docs/plugins.md does not mention {needle}"


def test_plugins_md_python_examples_run():
    # The model, metric, kit and registry snippets form one working plugin: run them as the
    # module `nfd_mymodel` and call the snippet's own test function.
    import types

    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    assert len(blocks) >= 4
    module = types.ModuleType("nfd_mymodel")
    module.nfd_mymodel = module
    for block in blocks:
        code = "\n".join(
            line for line in block.splitlines()
            if line.strip() not in ("import nfd_mymodel", "from nfd_mymodel.model import MyModel")
        )
        exec(compile(code, str(DOC), "exec"), module.__dict__)  # noqa: S102 - our own docs
    module.test_plugin()
    assert module.grid == [{"n_components": 5, "whiten": False},
                           {"n_components": 10, "whiten": False}]


if __name__ == "__main__":  # regenerate the reference section in docs/plugins.md
    if "--write" not in sys.argv[1:]:
        print(hook_reference())
        sys.exit(0)
    text = DOC.read_text(encoding="utf-8")
    current = _current_section(text)
    if not current:
        sys.exit(f"{DOC}: add the markers {BEGIN!r} ... {END!r} first")
    DOC.write_text(text.replace(current, hook_reference()), encoding="utf-8")
    print(f"updated {DOC}")
