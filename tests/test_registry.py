from __future__ import annotations

import json
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest
import tomllib

import neurofacedis
from neurofacedis import hookimpl
from neurofacedis import registry as reg
from neurofacedis.errors import InputError, PluginError, UnknownNameError
from neurofacedis.registry import (
    Entry,
    PluginWarning,
    Registry,
    check_latents,
    check_metric_result,
    expand_grid,
    get_registry,
    parse_param_args,
    plugin_table,
)
from neurofacedis.specs import DatasetSpec, MetricSpec, ModelSpec, Param, RequirementSpec
from neurofacedis.testing import make_plugin_manager, make_registry

ROOT = Path(__file__).resolve().parents[1]


def _factory(**kw):
    return object()


BETA = ModelSpec(
    name="beta_vae",
    factory=_factory,
    params=(
        Param("beta", 4.0, float, "KL weight"),
        Param("latents", 10, int),
        Param("augment", True, bool),
        Param("loss", "bernoulli", str, choices=("bernoulli", "gaussian")),
    ),
    citation="test",
)
ALIGN = MetricSpec(name="alignment", factory=_factory, params=(Param("alpha", 0.02, float),),
                   requires=frozenset({"repeats"}), citation="test")


class Good:
    @hookimpl
    def neurofacedis_register_models(self):
        return [BETA, ModelSpec(name="pca", factory=_factory, citation="test")]

    @hookimpl
    def neurofacedis_register_metrics(self):
        return [ALIGN]

    @hookimpl
    def neurofacedis_register_datasets(self):
        return [DatasetSpec(name="toy", loader=lambda dest: dest)]


class Second:
    @hookimpl
    def neurofacedis_register_models(self):
        return [ModelSpec(name="pca", factory=_factory, summary="second"),
                ModelSpec(name="ica", factory=_factory)]


class Bad:
    @hookimpl
    def neurofacedis_register_models(self):
        return [
            ModelSpec(name="bad-name", factory=_factory),
            ModelSpec(name="wrong_default", factory=_factory, params=(Param("n", 1.5, int),)),
            ModelSpec(name="bool_for_int", factory=_factory, params=(Param("n", True, int),)),
            ModelSpec(name="int_for_float", factory=_factory, params=(Param("x", 1, float),)),
            ModelSpec(name="odd_type", factory=_factory, params=(Param("x", [1], list),)),
            ModelSpec(name="dup_param", factory=_factory,
                      params=(Param("x", 1.0), Param("x", 2.0))),
            ModelSpec(name="bad_choice", factory=_factory,
                      params=(Param("x", "c", str, choices=("a", "b")),)),
            ModelSpec(name="needs_gpu", factory=_factory, requires=frozenset({"gpu"})),
            ModelSpec(name="not_callable", factory=42),
            ModelSpec(name="bad_testing", factory=_factory, testing_params={"nope": 1}),
            MetricSpec(name="metric_as_model", factory=_factory),
            {"name": "a_dict"},
            ModelSpec(name="fine", factory=_factory),
        ]

    @hookimpl
    def neurofacedis_register_metrics(self):
        raise RuntimeError("boom")

    @hookimpl
    def neurofacedis_register_datasets(self):
        return "not a list"


class Typo:
    @hookimpl
    def neurofacedis_register_model(self):  # misspelt hook: pm.check_pending() catches it
        return []


# --- the installed registry ----------------------------------------------------------------


def test_core_and_first_party_plugins_are_registered():
    registry = get_registry()
    assert registry.dataset("virtual_face_patch").plugin == "core"
    core = registry.plugins["core"]
    assert (core.distribution, core.version) == ("neurofacedis", neurofacedis.__version__)
    for name in ("pca", "ica", "pixels"):
        entry = registry.model(name)
        assert (entry.plugin, entry.distribution, entry.version) == (
            "nfd_linear", "neurofacedis", neurofacedis.__version__
        )


def test_installed_plugins_load_cleanly_under_strict():
    registry = get_registry(strict=True, refresh=True)
    assert registry.warnings == [] and registry.failed == {}
    assert {"pca", "ica", "pixels"} <= set(registry.models)


def test_get_plugin_manager_is_cached_and_refreshable():
    pm = reg.get_plugin_manager()
    assert reg.get_plugin_manager() is pm
    assert reg.get_plugin_manager(refresh=True) is not pm
    assert reg.get_plugin_manager().get_plugin("core") is not None


def test_plugin_folders_match_entry_points():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    declared = project["project"]["entry-points"]["neurofacedis"]
    folders = sorted(p.name for p in (ROOT / "plugins").iterdir() if (p / "__init__.py").is_file())
    assert declared.pop("core") == "neurofacedis._core_plugin"
    assert sorted(declared) == folders, "plugins/* folders and entry points differ"
    assert all(declared[name] == name for name in folders), "entry-point value != package"
    wheel = project["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]
    assert sorted(set(wheel) - {"neurofacedis"}) == [f"plugins/{f}" for f in folders]
    installed = {ep.name for ep in metadata.entry_points(group="neurofacedis")}
    missing = sorted({"core", *folders} - installed)
    assert not missing, f"{missing} not installed: run make test / pip install -e ."


def test_plugins_cli_json_lists_every_entry():
    out = subprocess.run(
        [sys.executable, "-m", "neurofacedis", "plugins", "--json"],
        capture_output=True, text=True, check=True, timeout=300,
    )
    rows = json.loads(out.stdout)
    pca = next(r for r in rows if r["name"] == "pca")
    assert pca["kind"] == "model" and pca["plugin"] == "nfd_linear"
    assert pca["params"][0] == {
        "name": "n_components", "type": "int", "default": 10,
        "help": "number of principal components (units)", "choices": None,
    }
    assert "Pearson" in pca["citation"]
    assert {(r["kind"], r["name"]) for r in rows} >= {
        ("model", "ica"), ("model", "pixels"), ("dataset", "virtual_face_patch")
    }


def test_plugins_cli_table(capsys):
    from typer.testing import CliRunner

    from neurofacedis.cli import app

    result = CliRunner().invoke(app, ["plugins"])
    assert result.exit_code == 0, result.output
    assert "pca" in result.output and "nfd_linear" in result.output


def test_plugins_cli_shows_each_parameters_help(capsys):
    """Issue 26, item 7: every parameter's help (and choices), not only its default."""
    from typer.testing import CliRunner

    from neurofacedis.cli import app
    from neurofacedis.registry import get_registry

    wide = {"COLUMNS": "400"}  # one line per parameter, whatever the terminal
    result = CliRunner().invoke(app, ["plugins", "classifier"], env=wide)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    spec = get_registry().model("classifier").spec
    for p in spec.params:
        line = next(x for x in lines if f" {p.name}={p.default!r}  " in x)
        assert p.help in line, (p.name, line)
    assert any("device='auto'  auto = CUDA when present (one of: auto, cpu, cuda)" in x
               for x in lines)
    assert "pca" not in result.output.split()  # only the entry asked for
    by_plugin = CliRunner().invoke(app, ["plugins", "nfd_linear"], env=wide)
    assert by_plugin.exit_code == 0 and "number of principal components (units)" in \
        by_plugin.output
    from neurofacedis.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(["plugins", "clasifier"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.strip() == ("error: no model, metric, dataset or plugin called 'clasifier'; "
                           "did you mean 'classifier'?")


# --- loading entry points one by one -------------------------------------------------------


class _Dist:
    def __init__(self, name: str, version: str):
        self.metadata = {"Name": name}
        self.version = version


class _EP:
    def __init__(self, name, value, obj=None, error=None, dist=("third-party", "9.9")):
        self.name, self.value, self._obj, self._error = name, value, obj, error
        self.dist = _Dist(*dist)

    def load(self):
        if self._error:
            raise self._error
        return self._obj


@pytest.fixture
def fake_entry_points(monkeypatch):
    """Replace the installed entry points; the caches are rebuilt after the test."""

    def use(*eps):
        monkeypatch.setattr(reg, "_entry_points", lambda: list(eps))
        reg.get_plugin_manager(refresh=True)

    yield use
    monkeypatch.undo()
    reg.get_plugin_manager(refresh=True)


def test_broken_entry_point_is_a_warning_naming_plugin_distribution_version(fake_entry_points):
    with pytest.warns(PluginWarning) as record:
        fake_entry_points(
            _EP("good", "good_mod", obj=Good()),
            _EP("broken", "broken_mod", error=ImportError("No module named 'torchvision'"),
                dist=("nfd-broken", "1.2.3")),
            _EP("typo", "typo_mod", obj=Typo(), dist=("nfd-typo", "0.1")),
        )
    registry = get_registry()
    messages = [str(w.message) for w in record]
    assert registry.warnings == messages
    assert any(
        "plugin 'broken' (nfd-broken 1.2.3): failed to load: ImportError: No module named "
        "'torchvision'" in m for m in messages
    ), messages
    assert (
        "plugin 'typo' (nfd-typo 0.1): invalid plugin: unknown hook 'neurofacedis_register_model'"
        "; did you mean 'neurofacedis_register_models'?" in messages
    ), messages
    assert set(registry.failed) == {"broken", "typo"}
    assert "beta_vae" in registry.models and "virtual_face_patch" in registry.datasets
    assert registry.model("beta_vae").distribution == "third-party"
    with pytest.raises(UnknownNameError, match="left out with errors: broken, typo"):
        registry.model("nope")


def test_broken_entry_point_is_an_error_under_strict(fake_entry_points, monkeypatch):
    monkeypatch.setattr(
        reg, "_entry_points",
        lambda: [_EP("broken", "broken_mod", error=SyntaxError("bad"), dist=("nfd-b", "1"))],
    )
    with pytest.raises(PluginError, match=r"plugin 'broken' \(nfd-b 1\): failed to load"):
        reg.get_plugin_manager(strict=True, refresh=True)


def test_disabled_plugins_are_skipped_but_core_cannot_be(fake_entry_points, monkeypatch):
    monkeypatch.setenv(reg.DISABLE_ENV, "good, core")
    with pytest.warns(PluginWarning, match="'core' plugin cannot be disabled"):
        fake_entry_points(_EP("good", "good_mod", obj=Good()))
    registry = get_registry()
    assert "beta_vae" not in registry.models
    assert "virtual_face_patch" in registry.datasets


def test_entry_point_name_clash_and_reserved_core(fake_entry_points):
    with pytest.warns(PluginWarning) as record:
        fake_entry_points(
            _EP("good", "good_mod", obj=Good()),
            _EP("good", "other_mod", obj=Second(), dist=("other", "2")),
            _EP("core", "evil_mod", obj=Second(), dist=("evil", "6")),
        )
    text = " | ".join(str(w.message) for w in record)
    assert "entry point name 'good' is already used" in text
    assert "plugin 'core' (evil 6): the name 'core' is reserved" in text
    assert "ica" not in get_registry().models  # neither Second() was registered


def test_first_party_entry_points_win_name_clashes(fake_entry_points):
    fake_entry_points(
        _EP("aaa_third", "m1", obj=Second(), dist=("aaa", "1")),
        _EP("nfd_x", "m2", obj=Good(), dist=("neurofacedis", "0.1.0")),
    )
    with pytest.warns(PluginWarning, match="duplicate model name 'pca' ignored"):
        registry = get_registry()
    assert registry.model("pca").plugin == "nfd_x"


# --- validation of specs and hook results --------------------------------------------------


def test_duplicate_names_warn_and_keep_the_first():
    with pytest.warns(PluginWarning, match=r"plugin 'Second'.*duplicate model name 'pca'"):
        registry = make_registry(Good(), Second(), strict=False)
    assert registry.model("pca").plugin == "Good"
    assert registry.model("ica").plugin == "Second"
    with pytest.raises(PluginError, match="duplicate model name 'pca'"):
        make_registry(Good(), Second(), strict=True)


def test_invalid_specs_are_dropped_with_a_warning_naming_the_plugin():
    with pytest.warns(PluginWarning):
        registry = make_registry(Bad(), Good(), strict=False)
    assert set(registry.models) == {"fine", "beta_vae", "pca"}
    text = "\n".join(registry.warnings)
    for expected in (
        "model 'bad-name' left out: name 'bad-name' is not a Python identifier",
        "param 'n': default 1.5 is not an int",
        "param 'n': default True is not an int",
        "param 'x': default 1 is not a float",
        "param 'x': type must be int, float, str or bool",
        "param 'x' is declared twice",
        "param 'x': default 'c' is not one of the choices",
        "unknown requirement(s) gpu",
        "factory is not callable",
        "testing_params: 'nope' is not a declared param",
        "expected a ModelSpec, got MetricSpec",
        "expected a ModelSpec, got dict",
        "neurofacedis_register_metrics() raised RuntimeError: boom",
        "neurofacedis_register_datasets() returned str, expected a list of specs",
    ):
        assert expected in text, expected
    assert all(w.startswith("plugin 'Bad'") for w in registry.warnings)
    assert registry.failed.keys() == {"Bad"}
    assert "alignment" in registry.metrics and "toy" in registry.datasets


def test_invalid_spec_is_an_error_under_strict():
    with pytest.raises(PluginError, match="plugin 'Bad'"):
        make_registry(Bad(), strict=True)


def test_unknown_hook_drops_only_that_plugin():
    with pytest.warns(PluginWarning, match="plugin 'Typo'.*invalid plugin"):
        registry = make_registry(Typo(), Good(), strict=False)
    assert "beta_vae" in registry.models and "Typo" not in registry.plugins


def test_registry_from_a_plain_pluggy_manager():
    import pluggy

    from neurofacedis import hookspecs

    pm = pluggy.PluginManager("neurofacedis")
    pm.add_hookspecs(hookspecs)
    pm.register(Good(), name="good")
    registry = Registry.from_plugin_manager(pm, strict=True)
    assert registry.model("beta_vae").plugin == "good"


# --- names ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def toy():
    return make_registry(Good())


def test_unknown_name_suggests_the_closest_and_lists_installed(toy):
    with pytest.raises(UnknownNameError) as info:
        toy.model("bta_vae")
    assert str(info.value) == (
        "unknown model 'bta_vae'; did you mean 'beta_vae'? installed: beta_vae, pca"
    )
    with pytest.raises(UnknownNameError, match=r"unknown metric 'zzz' installed: alignment$"):
        toy.metric("zzz")
    with pytest.raises(UnknownNameError, match="did you mean 'toy'"):
        toy.dataset("tyo")


def test_missing_first_party_plugin_says_how_to_install(tmp_path, monkeypatch):
    # declared in the checkout's entry points (pyproject.toml), not installed: the plugin is
    # asked what it registers (no source grepping)
    plugin = tmp_path / "nfd_fancy"
    plugin.mkdir()
    (plugin / "__init__.py").write_text(
        "from neurofacedis import hookimpl\n"
        "from neurofacedis.specs import ModelSpec\n"
        "@hookimpl\n"
        "def neurofacedis_register_models():\n"
        "    return [ModelSpec(name='fancy_model', factory=object)]\n"
    )
    (tmp_path / "pyproject.toml").write_text(
        '[project.entry-points.neurofacedis]\ncore = "neurofacedis._core_plugin"\n'
        'nfd_fancy = "nfd_fancy"\n'
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(reg, "_PYPROJECT", tmp_path / "pyproject.toml")
    pm = make_plugin_manager(Good())
    pm.entry_point_names = {"core"}
    registry = Registry.from_plugin_manager(pm)
    assert registry.missing == ["nfd_fancy"]
    with pytest.raises(UnknownNameError) as info:
        registry.model("fancy_model")
    assert str(info.value) == (
        "model 'fancy_model' comes with first-party plugin 'nfd_fancy', which is not "
        "installed: run make test / pip install -e ."
    )
    with pytest.raises(UnknownNameError, match=r"nfd_fancy not installed: run make test"):
        registry.model("other")


# --- parameters ----------------------------------------------------------------------------


def test_parse_param_args_types_and_sweeps(toy):
    got = parse_param_args(
        ["beta_vae.beta=1,2,4", "beta_vae.latents=8", "beta_vae.augment=false",
         "beta_vae.loss=gaussian", "alignment.alpha=0.1", "beta_vae.beta=4,8"],
        toy,
    )
    assert got == {
        "beta_vae": {"beta": [1.0, 2.0, 4.0, 8.0], "latents": [8], "augment": [False],
                     "loss": ["gaussian"]},
        "alignment": {"alpha": [0.1]},
    }
    assert all(isinstance(v, float) for v in got["beta_vae"]["beta"])


def test_parse_param_args_errors(toy):
    with pytest.raises(UnknownNameError, match="did you mean 'beta_vae'"):
        parse_param_args(["bta_vae.beta=1"], toy)
    with pytest.raises(UnknownNameError, match="did you mean 'beta'.* parameters: beta, latents"):
        parse_param_args(["beta_vae.bta=1"], toy)
    with pytest.raises(InputError, match="expected float, got 'abc'"):
        parse_param_args(["beta_vae.beta=abc"], toy)
    with pytest.raises(InputError, match="not one of"):
        parse_param_args(["beta_vae.loss=mse"], toy)
    for bad in ("beta_vae=3", "beta_vae.beta", "beta_vae.beta=", ".beta=1"):
        with pytest.raises(InputError, match="TARGET.PARAM=VALUE"):
            parse_param_args([bad], toy)


def test_expand_grid_is_defaults_times_product():
    assert expand_grid(BETA, {}) == [BETA.defaults()]
    grid = expand_grid(BETA, {"beta": [1, 2.5], "latents": [5, 10, 20]})
    assert len(grid) == 6
    assert grid[0] == {"beta": 1.0, "latents": 5, "augment": True, "loss": "bernoulli"}
    assert [(g["beta"], g["latents"]) for g in grid] == [
        (1.0, 5), (1.0, 10), (1.0, 20), (2.5, 5), (2.5, 10), (2.5, 20)
    ]
    assert isinstance(grid[0]["beta"], float)
    assert expand_grid(BETA, {"augment": False})[0]["augment"] is False


def test_expand_grid_errors():
    with pytest.raises(UnknownNameError, match="did you mean 'beta'"):
        expand_grid(BETA, {"bet": [1.0]})
    with pytest.raises(InputError, match="latents=2.5 is not an int"):
        expand_grid(BETA, {"latents": [2.5]})
    with pytest.raises(InputError, match="not one of"):
        expand_grid(BETA, {"loss": ["mse"]})
    with pytest.raises(InputError, match="no values"):
        expand_grid(BETA, {"beta": []})


# --- checks on values plugins return -------------------------------------------------------

ENTRY = Entry("model", BETA, "nfd_beta_vae", "neurofacedis", "0.1.0")


def test_check_latents_accepts_and_converts():
    z = np.arange(6, dtype=np.float32).reshape(3, 2)
    out = check_latents(ENTRY, z, n_images=3, unit_names=["a", "b"])
    assert out.dtype == np.float64 and np.array_equal(out, z)
    assert check_latents(ENTRY, z.astype(int), n_images=3, unit_names=("a", "b")).dtype == float


@pytest.mark.parametrize(
    "array,names,match",
    [
        ([[1.0, 2.0]], ["a", "b"], "encode returned list, expected a numpy array"),
        (np.zeros((3, 2, 1)), ["a", "b"], "3-d array"),
        (np.zeros((4, 2)), ["a", "b"], r"shape \(4, 2\), expected \(3, 2\)"),
        (np.zeros((3, 3)), ["a", "b"], r"expected \(3, 2\)"),
        (np.array([[1, np.nan], [0, 0], [np.inf, 0]]), ["a", "b"], "1 NaN and 1 infinite"),
        (np.zeros((3, 2), dtype=object), ["a", "b"], "dtype object"),
        (np.zeros((3, 2), dtype=complex), ["a", "b"], "dtype complex128"),
        (np.zeros((3, 2)), ["a", "a"], "unit_names has duplicates: a"),
        (np.zeros((3, 2)), ["a", 1], "unit_names must be a list of str"),
        (np.zeros((3, 2)), "ab", "unit_names must be a list of str"),
        (np.zeros((3, 0)), [], "no units"),
    ],
)
def test_check_latents_names_plugin_and_problem(array, names, match):
    with pytest.raises(PluginError, match=match) as info:
        check_latents(ENTRY, array, n_images=3, unit_names=names)
    assert str(info.value).startswith(
        "model 'beta_vae' (plugin 'nfd_beta_vae', neurofacedis 0.1.0): "
    )


def test_check_metric_result():
    import xarray as xr

    entry = Entry("metric", ALIGN, "nfd_alignment", "neurofacedis", "0.1.0")
    ds = xr.Dataset({"score": ("neuron", [0.5, 0.7])},
                    attrs={"alignment": np.float32(0.5), "n": np.int64(3), "ok": np.bool_(True)})
    out = check_metric_result(entry, ds)
    assert out.attrs == {"alignment": 0.5, "n": 3, "ok": True}
    assert [type(v) for v in out.attrs.values()] == [float, int, bool]
    assert isinstance(ds.attrs["n"], np.int64)  # the plugin's object is left alone
    for bad, match in [({"a": float("nan")}, "'a' = nan"), ({"a": "text"}, "'a' = 'text'"),
                       ({"a": np.array([1.0])}, "not a finite number"),
                       ({"a": float("inf")}, "'a' = inf")]:
        with pytest.raises(PluginError, match=match) as info:
            check_metric_result(entry, xr.Dataset(attrs=bad))
        assert "metric 'alignment' (plugin 'nfd_alignment'" in str(info.value)
    with pytest.raises(PluginError, match="compute returned dict, expected an xarray.Dataset"):
        check_metric_result(entry, {"alignment": 0.5})


def test_plugin_table_rows(toy):
    rows = plugin_table(toy)
    assert [(r["kind"], r["name"]) for r in rows] == [
        ("model", "beta_vae"), ("model", "pca"), ("metric", "alignment"), ("dataset", "toy"),
        ("dataset", "virtual_face_patch"),
    ]
    beta = rows[0]
    assert beta["plugin"] == "Good" and beta["distribution"] == ""
    assert beta["params"][3] == {"name": "loss", "type": "str", "default": "bernoulli",
                                 "help": "", "choices": ["bernoulli", "gaussian"]}
    assert rows[2]["requires"] == ["repeats"]
    json.dumps(rows)  # JSON-ready


@pytest.mark.slow
def test_core_dataset_writes_the_virtual_face_patch(tmp_path):
    entry = get_registry().dataset("virtual_face_patch")
    path = entry.spec.loader(tmp_path / "data", seed=1)
    assert path == tmp_path / "data" / "virtual_face_patch.nwb" and path.stat().st_size > 0
    from neurofacedis.nwb import Recording

    with Recording.open(path) as rec:
        assert rec.n_stimuli > 0


# --- requirements --------------------------------------------------------------------------


class NeedsLight:
    """A plugin adding a requirement and a metric that names it."""

    @hookimpl
    def neurofacedis_register_requirements(self):
        return [RequirementSpec("light", "a lit scene",
                                lambda ctx: None if ctx.n_models > 1 else "it is dark")]

    @hookimpl
    def neurofacedis_register_metrics(self):
        return [MetricSpec(name="lux", factory=object, requires=frozenset({"light", "seeds"}))]


def test_a_plugin_adds_a_requirement_and_metrics_may_name_it():
    from neurofacedis.requirements import unmet
    from neurofacedis.specs import RequirementContext

    registry = make_registry(Good(), NeedsLight())
    assert "light" in registry.requirements and "repeats" in registry.requirements
    assert registry.requirements["light"].plugin == "NeedsLight"
    assert registry.requirements["repeats"].plugin == "core"  # built-ins: the core plugin
    requires = registry.metrics["lux"].spec.requires
    ctx = RequirementContext(recording=None, n_seeds=2, n_models=1)
    assert unmet(requires, ctx, registry.requirements) == "needs a lit scene; it is dark"
    ctx = RequirementContext(recording=None, n_seeds=1, n_models=2)
    assert unmet(requires, ctx, registry.requirements) == (
        "needs the same model fitted with several seeds (--seeds N, N >= 2)")
    assert unmet(requires, RequirementContext(None, n_seeds=2, n_models=2),
                 registry.requirements) is None


def test_unknown_requirement_is_refused_naming_the_known_ones():
    class Lux:
        @hookimpl
        def neurofacedis_register_metrics(self):
            return [MetricSpec(name="lux", factory=object, requires=frozenset({"light"}))]

    with pytest.raises(PluginError, match=r"unknown requirement\(s\) light; known: repeats"):
        make_registry(Lux())


def test_invalid_requirement_spec_is_left_out():
    class Bad:
        @hookimpl
        def neurofacedis_register_requirements(self):
            return [RequirementSpec("dark", "", check=None)]

    with pytest.raises(PluginError, match="requirement 'dark' left out: description must"):
        make_registry(Bad())


def test_a_check_that_raises_is_an_unmet_requirement():
    from neurofacedis.requirements import unmet
    from neurofacedis.specs import RequirementContext

    def broken(ctx):
        raise ValueError("no sensor")

    table = {"light": RequirementSpec("light", "a lit scene", broken)}
    assert unmet({"light"}, RequirementContext(None), table) == (
        "needs a lit scene; its check failed (ValueError: no sensor)")
