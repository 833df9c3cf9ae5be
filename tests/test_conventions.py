"""Every common stimulus convention, written with PLAIN pynwb, read with no conversion (issue 20).

Each file is built by tests/lab_nwb.py and pynwb alone (no neurofacedis code), read through
the project's reader (responses checked against counts made here), passes ``data validate``,
and each runs ``analyze --model pca --metric alignment`` (:func:`_check`).
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
from lab_nwb import N_STIM, REPEATS, add_units, new_file, pixels, schedule, spike_trains, write
from PIL import Image
from pynwb.base import ImageReferences, Images
from pynwb.epoch import TimeIntervals
from pynwb.image import GrayscaleImage, ImageSeries, IndexSeries, OpticalSeries

from neurofacedis.errors import InputError
from neurofacedis.nwb import DEFAULT_WINDOW, Recording


def expected(shown, onsets, trains, n=N_STIM, window=DEFAULT_WINDOW):
    """Spike counts (stimulus, unit, repeat) counted here, independently of the reader."""
    out = np.full((n, len(trains), REPEATS), np.nan, dtype=np.float32)
    seen = np.zeros(n, dtype=int)
    for onset, k in zip(onsets, shown, strict=True):
        for u, st in enumerate(trains):
            out[k, u, seen[k]] = np.sum((st >= onset + window[0]) & (st < onset + window[1]))
        seen[k] += 1
    return out


def _trials(nwbfile, shown, onsets, column="image_index", values=None, table=None):
    values = [int(k) for k in shown] if values is None else values
    if table is None:
        nwbfile.add_trial_column(name=column, description="which image")
        for t, v in zip(onsets, values, strict=True):
            nwbfile.add_trial(start_time=t, stop_time=t + 0.4, **{column: v})
        return
    intervals = TimeIntervals(name=table, description="stimulus presentations")
    intervals.add_column(name=column, description="which image")
    for t, v in zip(onsets, values, strict=True):
        intervals.add_interval(start_time=t, stop_time=t + 0.4, **{column: v})
    nwbfile.add_time_intervals(intervals)


def _finish(nwbfile, path, images, shown, onsets):
    trains = spike_trains(images, shown, onsets)
    add_units(nwbfile, trains)
    write(nwbfile, path)
    return expected(shown, onsets, trains)


def _check(path, images, want, **kw):
    """The file reads as written, and `analyze --model pca --metric alignment` runs on it."""
    from neurofacedis.runner import analyze

    with Recording.open(path, **kw) as rec:
        np.testing.assert_array_equal(rec.images[:], images)
        np.testing.assert_array_equal(rec.responses.values, want)
        ids, warnings = rec.stimulus_ids, rec.warnings
    res = analyze(path, models=["pca"], metrics=["alignment"], figures=False,
                  params={"alignment": {"n_subsets": [3], "n_rotations": [1]},
                          "pca": {"n_components": [3]}},
                  cache_dir=path.parent / "nfd-cache", **kw)
    (stats,) = res.summary["metrics"]["alignment"].values()  # pca[n_components=3]
    assert res.ok and np.isfinite(stats["alignment"])
    return ids, warnings


def _validate(path, *, inspector_fails=(), **kw):
    """``data validate``'s library function passes the file and says analyze can use it."""
    from neurofacedis.data.validate import validate_files

    report = validate_files([path], **kw)
    assert sorted(f.check for f in report.failures) == sorted(inspector_fails), report.failures
    analysis = [f for f in report.findings if f.check == "analysis"]
    assert [f.status for f in analysis] == ["ok"], report.findings
    return analysis[0].message


# --- stacks: OpticalSeries / ImageSeries with data -----------------------------------------


@pytest.mark.parametrize("kind", ["optical_grey", "image_rgb_uint16"])
def test_stacked_series_with_a_trials_table(tmp_path, kind):
    path = tmp_path / f"{kind}.nwb"
    images = pixels(rgb=kind.endswith("uint16"))
    shown, onsets = schedule()
    nwbfile = new_file(kind)
    if kind == "optical_grey":
        series = OpticalSeries(name="faces", data=images, distance=0.57, field_of_view=[0.2, 0.2],
                               orientation="lower left", rate=1.0, unit="n.a.")
        stored = images
    else:
        stored = images.astype(np.uint16) * 257  # 16-bit pixels: 65535 -> 255
        series = ImageSeries(name="faces", data=stored, rate=1.0, unit="n.a.")
    nwbfile.add_stimulus_template(series)
    _trials(nwbfile, shown, onsets)
    want = _finish(nwbfile, path, images, shown, onsets)
    ids, _ = _check(path, images, want)
    assert ids == [f"faces_{i:04d}" for i in range(N_STIM)]
    if kind == "optical_grey":  # data validate: once per convention (nwbinspector ~1.5 s)
        assert _validate(path).startswith("readable for analysis: 10 stimuli "
                                          "(stimulus_template/faces), 4 neurons, 3 repeats")


def test_legacy_index_series_with_indexed_timeseries(tmp_path):
    path = tmp_path / "legacy.nwb"
    images = pixels()
    shown, onsets = schedule()
    nwbfile = new_file("legacy")
    series = ImageSeries(name="faces", data=images, rate=1.0, unit="n.a.")
    nwbfile.add_stimulus_template(series)
    # pynwb >= 2 refuses a new indexed_timeseries; files from older pynwb hold one
    index = IndexSeries.__new__(IndexSeries, in_construct_mode=True)
    index.__init__(name="shown", data=shown.astype(np.uint32), indexed_timeseries=series,
                   timestamps=onsets, unit="N/A")
    index._in_construct_mode = False
    nwbfile.add_stimulus(index)
    want = _finish(nwbfile, path, images, shown, onsets)
    _check(path, images, want)
    # nwbinspector flags the deprecated link (as for any file); analyze can still use it
    _validate(path, inspector_fails=["check_index_series_points_to_image"])


def test_optical_series_in_stimulus_with_its_own_timestamps(tmp_path):
    path = tmp_path / "movie.nwb"
    images = pixels()
    shown, onsets = np.arange(N_STIM), 1.0 + 0.5 * np.arange(N_STIM)
    nwbfile = new_file("movie")
    nwbfile.add_stimulus(OpticalSeries(
        name="faces_shown", data=images, distance=0.57, field_of_view=[0.2, 0.2],
        orientation="lower left", timestamps=onsets, unit="n.a."))
    trains = spike_trains(images, shown, onsets)
    add_units(nwbfile, trains)
    write(nwbfile, path)
    with Recording.open(path) as rec:
        assert rec.n_repeats == 1
        np.testing.assert_array_equal(rec.responses.values[:, :, 0],
                                      expected(shown, onsets, trains)[:, :, 0])


# --- external image files ---------------------------------------------------------------------


def _external(tmp_path, images, *, folder="faces", starting_frame=True, fmt="png"):
    names = []
    (tmp_path / folder).mkdir(exist_ok=True)
    for i, im in enumerate(images):
        name = f"{folder}/face{i:02d}.{fmt}"
        Image.fromarray(im).save(tmp_path / name)
        names.append(name)
    kw = {"starting_frame": list(range(len(names)))} if starting_frame else {}
    return ImageSeries(name="faces", external_file=names, format="external", rate=1.0,
                       unit="n.a.", num_samples=len(names), **kw), names


@pytest.mark.parametrize("column", ["image_file", "image_index"])
def test_image_series_with_external_files(tmp_path, column):
    path = tmp_path / "external.nwb"
    images = pixels(rgb=column == "image_file")
    shown, onsets = schedule()
    nwbfile = new_file("external")
    series, names = _external(tmp_path, images)
    nwbfile.add_stimulus_template(series)
    values = [names[k].split("/")[-1] for k in shown] if column == "image_file" else None
    _trials(nwbfile, shown, onsets, column=column, values=values)
    want = _finish(nwbfile, path, images, shown, onsets)
    ids, _ = _check(path, images, want)
    assert ids == names
    with Recording.open(path) as rec:  # provenance: every image file with its sha256
        linked = rec.linked_files
        assert [e["links"][0].rsplit(" ", 1)[1] for e in linked] == names
        assert linked[0]["sha256"] == hashlib.sha256(
            (tmp_path / names[0]).read_bytes()).hexdigest()
    if column == "image_file":
        _validate(path)


def test_external_multi_frame_tiff_and_starting_frame(tmp_path):
    path = tmp_path / "tiff.nwb"
    images = pixels()
    frames = [Image.fromarray(im) for im in images]
    frames[0].save(tmp_path / "a.tif", save_all=True, append_images=frames[1:4])
    frames[4].save(tmp_path / "b.tif", save_all=True, append_images=frames[5:])
    shown, onsets = schedule()
    nwbfile = new_file("tiff")
    nwbfile.add_stimulus_template(ImageSeries(
        name="faces", external_file=["a.tif", "b.tif"], starting_frame=[0, 4],
        format="external", rate=1.0, unit="n.a.", num_samples=N_STIM))
    _trials(nwbfile, shown, onsets)
    want = _finish(nwbfile, path, images, shown, onsets)
    ids, _ = _check(path, images, want)
    assert ids[:5] == ["a.tif#0", "a.tif#1", "a.tif#2", "a.tif#3", "b.tif#0"]


def test_external_files_outside_the_folder_need_follow_links(tmp_path):
    inside = tmp_path / "lab"
    inside.mkdir()
    images = pixels(n=N_STIM)
    shown, onsets = schedule()
    nwbfile = new_file("outside")
    series, _ = _external(tmp_path, images, folder="shared")
    series.external_file[:] = [f"../{n}" for n in series.external_file]  # next to lab/
    nwbfile.add_stimulus_template(series)
    _trials(nwbfile, shown, onsets)
    want = _finish(nwbfile, inside / "rec.nwb", images, shown, onsets)
    with pytest.raises(InputError, match=r"external file '../shared/face00.png' lies outside "
                       r"the recording's folder .*`follow_links`"):
        Recording.open(inside / "rec.nwb")
    _check(inside / "rec.nwb", images, want, follow_links=True)


def test_missing_or_bad_external_file_is_one_line(tmp_path):
    images = pixels()
    shown, onsets = schedule()
    nwbfile = new_file("missing")
    series, names = _external(tmp_path, images)
    nwbfile.add_stimulus_template(series)
    _trials(nwbfile, shown, onsets)
    _finish(nwbfile, tmp_path / "m.nwb", images, shown, onsets)
    (tmp_path / names[3]).unlink()
    with pytest.raises(InputError, match="external file 'faces/face03.png': no such file"):
        Recording.open(tmp_path / "m.nwb")
    (tmp_path / names[3]).write_bytes(b"not a png")
    with pytest.raises(InputError, match="'faces/face03.png' is not an image Pillow reads"):
        Recording.open(tmp_path / "m.nwb")


# --- presentation tables and choosing among candidates ---------------------------------------


def _images_container(nwbfile, images, name="faces"):
    frames = [GrayscaleImage(name=f"{name}{i:02d}", data=im) for i, im in enumerate(images)]
    container = Images(name=name, images=frames, description="faces",
                       order_of_images=ImageReferences(name="order_of_images", data=frames))
    nwbfile.add_stimulus_template(container)
    return container


def test_epochs_and_custom_tables_with_names_or_indices(tmp_path):
    images = pixels()
    shown, onsets = schedule()
    path = tmp_path / "epochs.nwb"
    nwbfile = new_file("epochs")
    _images_container(nwbfile, images)
    nwbfile.add_epoch_column(name="image_name", description="which image")
    for t, k in zip(onsets, shown, strict=True):
        nwbfile.add_epoch(start_time=t, stop_time=t + 0.4, image_name=f"faces{k:02d}")
    want = _finish(nwbfile, path, images, shown, onsets)
    _check(path, images, want)
    _validate(path)
    path = tmp_path / "two_tables.nwb"
    nwbfile = new_file("two")
    _images_container(nwbfile, images)
    _trials(nwbfile, shown, onsets, column="stim_idx", table="stim_on")
    _trials(nwbfile, shown[::-1], onsets, column="stim_idx", table="stim_on_copy")
    want = _finish(nwbfile, path, images, shown, onsets)
    with pytest.raises(InputError, match=r"several presentation tables \(intervals/stim_on, "
                       r"intervals/stim_on_copy\); choose one with `presentations`"):
        Recording.open(path)
    _check(path, images, want, presentations="stim_on")
    with pytest.raises(InputError, match=r"presentations: no presentation table or IndexSeries "
                       r"named 'nope' \(candidates: intervals/stim_on, intervals/stim_on_copy\)"):
        Recording.open(path, presentations="nope")


def test_several_stimulus_sets_are_chosen_by_name(tmp_path):
    images = pixels()
    other = pixels(seed=9)
    shown, onsets = schedule()
    path = tmp_path / "two_sets.nwb"
    nwbfile = new_file("two-sets")
    _images_container(nwbfile, images, name="faces")
    nwbfile.add_stimulus_template(ImageSeries(name="objects", data=other, rate=1.0, unit="n.a."))
    _trials(nwbfile, shown, onsets)
    want = _finish(nwbfile, path, images, shown, onsets)
    with pytest.raises(InputError, match=r"several stimulus sets \(stimulus_template/faces, "
                       r"stimulus_template/objects\); choose one with `stimuli`"):
        Recording.open(path)
    _check(path, images, want, stimuli="faces")
    _check(path, other, want, stimuli="stimulus_template/objects")
    with pytest.raises(InputError, match="no such stimulus set 'x' .candidates: stimulus_temp"):
        Recording.open(path, stimuli="x")


def test_float_images_and_an_index_series_into_images(tmp_path):
    images = pixels()
    shown, onsets = schedule()
    path = tmp_path / "float.nwb"
    nwbfile = new_file("float")
    frames = [GrayscaleImage(name=f"f{i}", data=im.astype(np.float32) / 255.0)
              for i, im in enumerate(images)]
    container = Images(name="faces", images=frames, description="faces",
                       order_of_images=ImageReferences(name="order_of_images", data=frames))
    nwbfile.add_stimulus_template(container)
    nwbfile.add_stimulus(IndexSeries(name="shown", data=shown.astype(np.uint32),
                                     indexed_images=container, unit="N/A", timestamps=onsets))
    want = _finish(nwbfile, path, images, shown, onsets)
    _check(path, images, want)
    _validate(path)


# --- analyze on plain files --------------------------------------------------------------------


def test_analyze_pca_alignment_on_external_files_and_a_silent_unit(tmp_path):
    from neurofacedis.runner import analyze

    images = pixels(n=12, size=8, seed=21)
    shown, onsets = schedule(n=12)
    nwbfile = new_file("analyze")
    series, _ = _external(tmp_path, images)
    nwbfile.add_stimulus_template(series)
    _trials(nwbfile, shown, onsets)
    trains = spike_trains(images, shown, onsets, n_units=4)
    add_units(nwbfile, [*trains, np.array([0.01])])  # unit 4 never fires in a window
    write(nwbfile, tmp_path / "rec.nwb")
    out = tmp_path / "out"
    analyze(tmp_path / "rec.nwb", models=["pca"], metrics=["alignment"], out=out,
            params=["pca.n_components=4"], figures=False, use_cache=False)
    summary = json.loads((out / "summary.json").read_text())
    assert not summary["errors"], summary["errors"]
    assert set(summary["metrics"]["alignment"]) == {"pca[n_components=4]"}
    assert "unit 4 dropped: silent: no spike in any response window" in summary["warnings"]


def test_images_of_several_sizes_and_grey_with_rgb_get_one_common_shape(tmp_path):
    images = pixels(n=4, size=8, rgb=True)
    path = tmp_path / "sizes.nwb"
    nwbfile = new_file("sizes")
    from pynwb.image import RGBImage

    frames = [RGBImage(name="a", data=images[0]), RGBImage(name="b", data=images[1]),
              GrayscaleImage(name="c", data=images[2, :, :, 0]),
              RGBImage(name="d", data=np.full((16, 16, 3), [10, 200, 30], np.uint8))]
    nwbfile.add_stimulus_template(Images(
        name="faces", images=frames, description="faces",
        order_of_images=ImageReferences(name="order_of_images", data=frames)))
    shown, onsets = schedule(n=4)
    _trials(nwbfile, shown, onsets)
    _finish(nwbfile, path, images, shown, onsets)
    with Recording.open(path) as rec:
        got = rec.images[:]
        assert got.shape == (4, 8, 8, 3)
        np.testing.assert_array_equal(got[:2], images[:2])
        np.testing.assert_array_equal(got[2], np.repeat(images[2, :, :, :1], 3, axis=-1))
        np.testing.assert_array_equal(got[3], np.full((8, 8, 3), [10, 200, 30], np.uint8))
        expect = Image.fromarray(np.asarray(frames[3].data)).resize((8, 8), Image.BILINEAR)
        np.testing.assert_array_equal(got[3], np.asarray(expect))  # Pillow bilinear, once
        assert "2 of 4 images brought to the set's common size 8x8 RGB" in rec.warnings[0]
