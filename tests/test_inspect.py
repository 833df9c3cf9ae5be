"""`neurofacedis inspect`: what a file holds, latents with provenance, nwbinspector findings."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from neurofacedis.cli import main
from neurofacedis.inspection import SERIOUS, inspect_file, summarize
from neurofacedis.nwb import LatentsData, Recording, add_latents, file_sha256, write_analysis


def _latents(name: str = "latents_beta_vae_seed1") -> LatentsData:
    return LatentsData(
        name,
        np.random.default_rng(0).normal(size=(6, 4)),
        [f"z{i}" for i in range(4)],
        {
            "model": "beta_vae",
            "plugin": "nfd_beta_vae",
            "plugin_version": "0.3",
            "seed": 1,
            "parameters": {"beta": 4.0},
            "training_images_sha256": "a" * 64,
        },
    )


def test_inspect_recording(session_file):
    path, data = session_file
    add_latents(path, [_latents()])
    report = inspect_file(path)
    assert report["kind"] == "recording"
    assert (report["stimuli"], report["neurons"], report["repeats"]) == (6, 4, 3)
    assert report["image_shape"] == [8, 8] and report["landmarks"] == 5
    assert report["factors"] == ["face_width", "eye_size"]
    assert report["labels"] == ["view", "age_group"] and report["identities"] == 3
    assert report["has_spike_times"] and report["has_processed"] and report["truth"]
    assert report["presentations"] == 18
    lat = report["latents"]["latents_beta_vae_seed1"]
    assert lat["shape"] == [6, 4] and lat["model"] == "beta_vae" and lat["seed"] == 1
    assert lat["plugin"] == "nfd_beta_vae" and lat["parameters"] == '{"beta": 4.0}'
    assert report["serious_findings"] == 0
    assert {f["importance"] for f in report["findings"]} <= {"BEST_PRACTICE_SUGGESTION"}
    assert report["subject"]["species"] == "Macaca mulatta"


def test_cli_inspect_json_and_table(session_file, capsys):
    path, _ = session_file
    with pytest.raises(SystemExit) as exit_info:
        main(["inspect", str(path), "--json"])
    assert exit_info.value.code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["neurons"] == 4 and report["window"] == [0.05, 0.35]
    assert isinstance(report["findings"], list)
    with pytest.raises(SystemExit) as exit_info:
        main(["inspect", str(path)])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "nwbinspector" in out and "repeats" in out and "tiny-0" in out


def test_inspect_analysis_file(session_file, tmp_path):
    path, _ = session_file
    out = tmp_path / "analysis.nwb"
    with Recording.open(path) as rec:
        write_analysis(
            out,
            recording=rec,
            latents=[_latents()],
            tables={"rsa": pd.DataFrame({"model": ["a", "b"], "rho": [0.1, 0.2]})},
        )
    report = summarize(out)
    assert report["kind"] == "analysis" and report["stimuli"] == 6
    assert report["results"] == {"rsa": 2}
    assert file_sha256(path) in report["source"]
    assert report["latents"]["latents_beta_vae_seed1"]["model"] == "beta_vae"


def test_inspect_zarr(session_file, tmp_path):
    import numcodecs
    from hdmf_zarr.nwb import NWBZarrIO
    from pynwb import NWBHDF5IO

    path, _ = session_file
    zpath = tmp_path / "tiny.nwb.zarr"
    with (
        NWBHDF5IO(str(path), "r") as src,
        NWBZarrIO(str(zpath), mode="w", object_codec_class=numcodecs.JSON) as dst,
    ):
        dst.export(src_io=src, write_args={"link_data": False})
    report = inspect_file(zpath)
    assert report["neurons"] == 4
    # zarr 2.18 cannot index with uint64 arrays, which crashes one nwbinspector check
    known = "During evaluation of 'check_units_table_duration'"
    serious = [
        f
        for f in report["findings"]
        if f["importance"] in SERIOUS and not f["check"].startswith(known)
    ]
    assert serious == []


def test_inspect_describes_a_plain_file_that_cannot_be_analysed(tmp_path, capsys):
    """A valid NWB file with units but no stimuli: described, with what analysis lacks."""
    from datetime import datetime, timezone

    from pynwb import NWBHDF5IO, NWBFile
    from pynwb.file import Subject

    nwb = NWBFile(session_description="units only", identifier="units-only",
                  session_start_time=datetime(2023, 1, 1, tzinfo=timezone.utc),
                  subject=Subject(subject_id="M7", species="Macaca mulatta"))
    for k in range(3):
        nwb.add_unit(spike_times=[0.1 * (k + 1), 0.5])
    path = tmp_path / "units.nwb"
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)
    report = inspect_file(path)
    assert report["kind"] == "nwb (not analysable)" and report["units"] == 3
    assert report["subject"]["subject_id"] == "M7"
    assert report["missing_for_analysis"].startswith("stimulus_template: no stimuli")
    main_code = None
    try:
        main(["inspect", str(path)])
    except SystemExit as exc:
        main_code = exc.code
    out = capsys.readouterr().out
    assert main_code in (None, 0) and "missing_for_analysis" in out and "no stimuli" in out
    # damaged data is still refused (only what is *missing* is described)
    path.write_bytes(path.read_bytes()[:1024])
    with pytest.raises(Exception, match="truncated|damaged|not"):
        inspect_file(path)
