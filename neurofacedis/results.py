"""Writing a run's outputs: analysis.nwb, results.nc, summary.json, figures/ and report.html.

The page itself is drawn by :mod:`neurofacedis.report`; this module writes the files and reads
results.nc back.

Everything is written into a temporary sibling folder that replaces OUT only when complete,
so a crash or Ctrl-C leaves either the previous complete output or none, never half of one.
OUT passes :func:`neurofacedis._outputs.check_output_folder` before and again (under the
per-OUT lock) just before the swap: only an earlier analysis output is replaced, and that is
said on stderr; the new folder carries the marker listing what it holds.
"""

from __future__ import annotations

import json
import os  # noqa: F401 (the swap's renames: tests reach them as results.os)
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from neurofacedis._outputs import swap_into_place as _swap_into_place
from neurofacedis._util import safe_name as _safe
from neurofacedis.report import render_report  # re-exported; write_outputs calls it

__all__ = ["write_outputs", "load_results", "render_report", "results_group"]

#: The kind of output folder :func:`write_outputs` writes (in its marker).
KIND = "analyze"


def results_group(metric: str, label: str, seed: int) -> str:
    """NetCDF group of one metric result in results.nc: ``metric/label/seedN`` (sanitised)."""
    return f"{_safe(metric)}/{_safe(label)}/seed{int(seed)}"


def write_outputs(
    out: Path,
    *,
    summary: dict[str, Any],
    results: Mapping[tuple[str, str, int], Any],
    jobs: list[Any],
    recording: Any,
    latents: list[Any],
    metric_objects: Mapping[tuple[str, str, int], Any],
    model_figures: Mapping[str, Any],
    figures: bool = True,
    inputs: Sequence[Any] = (),
) -> Path:
    """Write the five outputs into ``out`` atomically (temp folder + rename).

    ``out`` may not be, hold or lie inside ``inputs`` or the recording; an existing ``out`` is
    replaced only when it is an earlier analysis output (see :mod:`neurofacedis._outputs`).
    """
    from neurofacedis._outputs import announce, check_output_folder, output_lock, write_marker

    out = Path(out)
    inputs = [getattr(recording, "path", None), *inputs]
    check_output_folder(out, kind=KIND, inputs=inputs)
    out.parent.mkdir(parents=True, exist_ok=True)
    from neurofacedis.cache import uninterrupted

    tmp = None
    try:
        with uninterrupted():  # the folder exists only once the cleanup below covers it
            tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
        fig_files = _write_figures(tmp / "figures", results, metric_objects, model_figures,
                                   jobs, enabled=figures)
        summary = dict(summary)
        summary["figures"] = [str(Path("figures") / f.name) for f in fig_files]
        _write_netcdf(tmp / "results.nc", results, jobs, summary)
        _write_analysis_nwb(tmp / "analysis.nwb", recording, latents, summary)
        (tmp / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
        (tmp / "report.html").write_text(render_report(summary, fig_files))
        write_marker(tmp, kind=KIND, run_id=summary.get("run_id"))
        with output_lock(out), uninterrupted():
            announce(check_output_folder(out, kind=KIND, inputs=inputs))  # as it is now
            _swap_into_place(tmp, out)
    except BaseException:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


# ---------------------------------------------------------------------------------- NetCDF


def _netcdf_attrs(attrs: Mapping[str, Any]) -> dict[str, Any]:
    """netCDF-safe attributes: bools -> int, None -> "", dicts/lists of str -> JSON text."""
    out: dict[str, Any] = {}
    for k, v in attrs.items():
        if isinstance(v, (bool, np.bool_)):
            out[k] = int(v)
        elif v is None:
            out[k] = ""
        elif isinstance(v, (str, int, float, np.integer, np.floating)):
            out[k] = v
        elif isinstance(v, np.ndarray) and v.dtype.kind in "iuf":
            out[k] = v
        else:
            out[k] = json.dumps(v, default=str)
    return out


def _clean_for_netcdf(ds: Any) -> Any:
    ds = ds.copy()
    ds.attrs = _netcdf_attrs(ds.attrs)
    for name in list(ds.variables):
        var = ds[name]
        var.attrs = _netcdf_attrs(var.attrs)
        if var.dtype == bool:
            ds[name] = var.astype("int8")
        elif var.dtype.kind == "O":
            ds[name] = var.astype(str)
    return ds


def _write_netcdf(path: Path, results: Mapping[tuple[str, str, int], Any], jobs: list[Any],
                  summary: dict[str, Any]) -> None:
    import xarray as xr

    root = xr.Dataset(attrs={"title": "neurofacedis results",
                             "summary_json": json.dumps(summary, default=str),
                             "conventions": "one group per metric/model/seed; see docs/outputs.md"})
    # one tree, one file open: appending group by group re-scans the whole file each time
    groups: dict[str, Any] = {"/": root}
    for (metric, label, seed), ds in sorted(results.items(), key=lambda kv: kv[0]):
        ds = _clean_for_netcdf(ds)
        ds.attrs.update({"metric": metric, "model": label, "seed": int(seed)})
        groups[results_group(metric, label, seed)] = ds
    for job in jobs:
        hist = getattr(job.model, "history", None) if job.model is not None else None
        if not isinstance(hist, Mapping) or not hist:
            continue
        data_vars = {}
        for k, v in hist.items():
            arr = np.asarray(v)
            if arr.ndim == 1 and arr.dtype.kind in "iuf":
                data_vars[str(k)] = (f"{_safe(str(k))}_step", arr)
        if data_vars:
            groups[f"history/{_safe(job.label)}/seed{job.seed}"] = xr.Dataset(
                data_vars, attrs={"model": job.label, "seed": int(job.seed)})
    xr.DataTree.from_dict(groups).to_netcdf(path, mode="w", engine="h5netcdf")


def load_results(path: str | Path) -> dict[tuple[str, str, int], Any]:
    """Read results.nc back: {(metric, model label, seed): xarray.Dataset}."""
    import xarray as xr

    tree = xr.open_datatree(path, engine="h5netcdf")
    out = {}
    for node in tree.subtree:
        ds = node.to_dataset()
        if "metric" in ds.attrs and "model" in ds.attrs:
            out[(str(ds.attrs["metric"]), str(ds.attrs["model"]),
                 int(ds.attrs["seed"]))] = ds.load()
    tree.close()
    return out


# ------------------------------------------------------------------------------- analysis.nwb


def _write_analysis_nwb(path: Path, recording: Any, latents: list[Any],
                        summary: dict[str, Any]) -> None:
    import pandas as pd

    from neurofacedis.nwb import write_analysis

    rows = []
    for metric, by_label in summary.get("metrics", {}).items():
        for label, stats in by_label.items():
            for stat, value in stats.items():
                sd = summary.get("metrics_sd", {}).get(metric, {}).get(label, {}).get(stat, 0.0)
                n = len(summary.get("per_seed", {}).get(metric, {}).get(label, {}).get(stat, []))
                rows.append({"metric": metric, "model": label, "statistic": stat,
                             "mean": float(value) if value is not None else float("nan"),
                             "sd": float(sd) if sd is not None else float("nan"),
                             "n_seeds": int(n)})
    tables = {}
    if rows:
        tables["metric_summary"] = pd.DataFrame(rows)
    comp = [dict(r, metric=m) for m, rs in summary.get("comparisons", {}).items() for r in rs]
    if comp:
        df = pd.DataFrame(comp)[["metric", "stat", "a", "b", "t", "p", "p_fdr", "significant"]]
        df["significant"] = df["significant"].astype(bool)
        tables["model_comparisons"] = df
    write_analysis(path, recording=recording, latents=latents, tables=tables,
                   description="neurofacedis analysis: model latents and metric summaries")


# ------------------------------------------------------------------------------------ figures


def _write_figures(folder: Path, results, metric_objects, model_figures, jobs, *,
                   enabled: bool) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    if not enabled:
        return []
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    files: list[Path] = []
    first_seed: dict[tuple[str, str], int] = {}
    for (metric, label, seed) in sorted(results):
        first_seed.setdefault((metric, label), seed)
    for (metric, label), seed in first_seed.items():
        obj = metric_objects.get((metric, label, seed))
        draw = getattr(obj, "figures", None)
        if not callable(draw):
            continue
        try:
            figs = draw(results[(metric, label, seed)]) or {}
        except Exception as exc:  # a figure failing never loses the numbers
            import warnings

            warnings.warn(f"metric {metric}: figures failed for {label}: {exc}", stacklevel=2)
            continue
        for name, fig in figs.items():
            f = folder / f"{_safe(metric)}__{_safe(label)}__{_safe(name)}.png"
            fig.savefig(f, dpi=100, bbox_inches="tight")
            plt.close(fig)
            files.append(f)
    for name, fig in model_figures.items():
        f = folder / f"model__{_safe(name)}.png"
        fig.savefig(f, dpi=100, bbox_inches="tight")
        plt.close(fig)
        files.append(f)
    cmp = _comparison_figure(results)
    if cmp is not None:
        f = folder / "summary__models.png"
        cmp.savefig(f, dpi=100, bbox_inches="tight")
        plt.close(cmp)
        files.append(f)
    return files


def short_labels(labels: Sequence[str]) -> list[str]:
    """Model labels for axis ticks: ``name[k=v,...]`` keeps only what differs between labels.

    The runner's labels name every non-default parameter (``beta_vae[beta=4,lr=0.001,...]``);
    on a figure only the parameters that vary among one model's labels tell them apart.
    """
    parsed = []
    for label in labels:
        name, _, rest = label.partition("[")
        pairs = dict(p.split("=", 1) for p in rest.rstrip("]").split(",") if "=" in p)
        parsed.append((name, pairs))
    out = []
    for name, pairs in parsed:
        siblings = [q for n, q in parsed if n == name]
        keep = [k for k in pairs if len({q.get(k) for q in siblings}) > 1]
        inner = ",".join(f"{k}={pairs[k]}" for k in keep)
        out.append(f"{name}[{inner}]" if inner else name)
    return out


def _comparison_figure(results) -> Any:
    """Per metric, the headline statistic of each model over seeds (points + mean)."""
    import matplotlib.pyplot as plt

    by_metric: dict[str, dict[str, list[float]]] = {}
    for (metric, label, _seed), ds in results.items():
        stat = metric if metric in ds.attrs else next(iter(ds.attrs), None)
        if stat is None:
            continue
        try:
            v = float(ds.attrs[stat])
        except (TypeError, ValueError):
            continue
        by_metric.setdefault(metric, {}).setdefault(label, []).append(v)
    if not by_metric or all(len(v) < 2 for v in by_metric.values()):
        return None
    n = len(by_metric)
    fig, axes = plt.subplots(1, n, figsize=(4 * n, 3.2), squeeze=False, layout="constrained")
    for ax, (metric, by_label) in zip(axes[0], sorted(by_metric.items()), strict=True):
        labels = sorted(by_label)
        for i, lab in enumerate(labels):
            vals = by_label[lab]
            ax.scatter(np.full(len(vals), i) + np.linspace(-0.1, 0.1, len(vals)), vals, s=14,
                       alpha=0.7)
            ax.hlines(np.mean(vals), i - 0.25, i + 0.25, color="k")
        ax.set_xticks(range(len(labels)), short_labels(labels), rotation=30, ha="right",
                      fontsize=8)
        ax.set_title(metric)
    return fig
