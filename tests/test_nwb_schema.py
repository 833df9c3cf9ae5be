"""The ndx-neurofacedis extension: generated YAML, lazy loading, each type's round trip."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from hdmf.common import DynamicTable, DynamicTableRegion
from pynwb import ProcessingModule
from pynwb.misc import Units
from pynwb.testing import NWBH5IOFlexMixin, TestCase

import neurofacedis.nwb  # noqa: F401 - loads the namespace
from neurofacedis.nwb._schema import (
    NAMESPACE,
    FaceStimulusSet,
    ModelLatents,
    SimulationTruth,
    StimulusResponses,
    StimulusTable,
    namespace_path,
)

REPO = Path(__file__).resolve().parents[1]


def test_committed_yaml_equals_regenerated(tmp_path):
    script = REPO / "schemas" / "create_extension_spec.py"
    subprocess.run([sys.executable, str(script), str(tmp_path)], check=True, capture_output=True)
    for name in (f"{NAMESPACE}.namespace.yaml", f"{NAMESPACE}.extensions.yaml"):
        committed = (REPO / "schemas" / name).read_text()
        assert (tmp_path / name).read_text() == committed, f"{name} is stale: rerun {script}"


def test_namespace_found_and_loaded():
    from pynwb import available_namespaces

    assert namespace_path().is_file()
    assert NAMESPACE in available_namespaces()


def test_import_neurofacedis_is_light_and_nwb_loads_namespace():
    code = (
        "import sys, json\n"
        "import neurofacedis\n"
        "light = [m for m in ('pynwb', 'xarray', 'torch', 'sklearn') if m in sys.modules]\n"
        "import neurofacedis.nwb\n"
        "from pynwb import available_namespaces\n"
        "print(json.dumps({'light': light, 'torch': 'torch' in sys.modules,\n"
        "  'ns': 'ndx-neurofacedis' in available_namespaces()}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout
    result = json.loads(out.strip().splitlines()[-1])
    assert result == {"light": [], "torch": False, "ns": True}


def _stimulus_table(n: int = 4) -> StimulusTable:
    table = StimulusTable(
        name="stimulus_table",
        description="stimuli",
        factor_columns=["width"],
    )
    table.add_column(name="width", description="factor: width")
    table.add_column(name="landmarks", description="landmarks")
    rng = np.random.default_rng(0)
    for i in range(n):
        table.add_row(
            stimulus_id=f"s{i}",
            identity=str(i % 2),
            width=float(i),
            landmarks=rng.uniform(size=(3, 2)).astype(np.float32),
        )
    return table


def test_stimulus_table_constructor():
    table = _stimulus_table()
    assert table.colnames == ("stimulus_id", "identity", "width", "landmarks")
    assert list(table.factor_columns) == ["width"]
    assert table["stimulus_id"].data == ["s0", "s1", "s2", "s3"]


def test_get_class_constructors():
    latents = ModelLatents(
        name="latents_pca_seed0",
        data=np.zeros((3, 2), dtype=np.float32),
        unit_names=["u0", "u1"],
        model="pca",
        plugin="nfd_linear",
        plugin_version="1.0",
        parameters="{}",
        seed=0,
        training_images_sha256="ab",
        package_version="0.1.0",
        created="2024-01-01T00:00:00+00:00",
    )
    assert latents.seed == 0 and latents.source is None
    truth = SimulationTruth(
        name="truth",
        tuning_weights=np.eye(2),
        factor_names=["a", "b"],
        code=["axis", "axis"],
        baseline=np.ones(2),
        gain=np.ones(2),
        parameters="{}",
    )
    assert truth.code == ["axis", "axis"]


class _TmpFileMixin:
    def setUp(self):
        super().setUp()
        self._tmp = tempfile.mkdtemp()
        self.filename = os.path.join(self._tmp, self.filename)
        self.export_filename = os.path.join(self._tmp, self.export_filename)


def _module(nwbfile) -> ProcessingModule:
    if "neurofacedis" not in nwbfile.processing:
        nwbfile.add_processing_module(ProcessingModule(name="neurofacedis", description="test"))
    return nwbfile.processing["neurofacedis"]


class TestStimulusTableIO(_TmpFileMixin, NWBH5IOFlexMixin, TestCase):
    def getContainerType(self):
        return "StimulusTable"

    def addContainer(self):
        _module(self.nwbfile).add(_stimulus_table())

    def getContainer(self, nwbfile):
        return nwbfile.processing["neurofacedis"]["stimulus_table"]


class TestFaceStimulusSetIO(_TmpFileMixin, NWBH5IOFlexMixin, TestCase):
    def getContainerType(self):
        return "FaceStimulusSet"

    def addContainer(self):
        images = np.random.default_rng(1).integers(0, 256, (4, 5, 6, 3), dtype=np.uint8)
        _module(self.nwbfile).add(
            FaceStimulusSet(name="stimulus_set", images=images, stimulus_table=_stimulus_table())
        )

    def getContainer(self, nwbfile):
        return nwbfile.processing["neurofacedis"]["stimulus_set"]


class TestStimulusResponsesIO(_TmpFileMixin, NWBH5IOFlexMixin, TestCase):
    def getContainerType(self):
        return "StimulusResponses"

    def addContainer(self):
        units = Units(name="units", resolution=1e-4)
        units.add_unit(spike_times=[0.1, 0.2])
        units.add_unit(spike_times=[0.3])
        self.nwbfile.units = units
        data = np.arange(4 * 2 * 3, dtype=np.float32).reshape(4, 2, 3)
        data[0, 0, 2] = np.nan
        _module(self.nwbfile).add(
            StimulusResponses(
                name="responses",
                data=data,
                window_start=0.05,
                window_stop=0.35,
                unit="spikes",
                units=DynamicTableRegion(
                    name="units", data=[0, 1], description="units", table=units
                ),
            )
        )

    def getContainer(self, nwbfile):
        return nwbfile.processing["neurofacedis"]["responses"]


class TestModelLatentsIO(_TmpFileMixin, NWBH5IOFlexMixin, TestCase):
    def getContainerType(self):
        return "ModelLatents"

    def addContainer(self):
        _module(self.nwbfile).add(
            ModelLatents(
                name="latents_pca_seed0",
                data=np.random.default_rng(2).normal(size=(4, 3)).astype(np.float32),
                unit_names=["pc0", "pc1", "pc2"],
                model="pca",
                plugin="nfd_linear",
                plugin_version="1.0",
                parameters=json.dumps({"k": 3}),
                seed=7,
                training_images_sha256="0" * 64,
                package_version="0.1.0",
                created="2024-01-01T00:00:00+00:00",
                source="rec identifier=x sha256=y",
                extra=json.dumps({"note": "test"}),
            )
        )

    def getContainer(self, nwbfile):
        return nwbfile.processing["neurofacedis"]["latents_pca_seed0"]


class TestSimulationTruthIO(_TmpFileMixin, NWBH5IOFlexMixin, TestCase):
    def getContainerType(self):
        return "SimulationTruth"

    def addContainer(self):
        _module(self.nwbfile).add(
            SimulationTruth(
                name="truth",
                tuning_weights=np.arange(6, dtype=float).reshape(3, 2),
                factor_names=["a", "b"],
                code=["axis", "mixed", "axis"],
                baseline=np.ones(3),
                gain=np.full(3, 2.0),
                parameters=json.dumps({"seed": 0}),
            )
        )

    def getContainer(self, nwbfile):
        return nwbfile.processing["neurofacedis"]["truth"]


def test_neurons_table_target_type():
    # a StimulusResponses region may point at a plain DynamicTable when there are no spikes
    table = DynamicTable(name="neurons", description="n", id=[0, 1])
    region = DynamicTableRegion(name="units", data=[1, 0], description="d", table=table)
    assert list(region.data) == [1, 0]
