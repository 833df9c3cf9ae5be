"""What :func:`~neurofacedis.runner.analyze` returns, with what a notebook wants from it.

``result`` shows the verdict table in Jupyter (``_repr_html_``, the report's opening);
``result.dataset("alignment")`` is a metric's full xarray Dataset; ``result.figure(name)``
draws one of the run's figures again as a matplotlib Figure (docs/notebook.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from neurofacedis.errors import UnknownNameError
from neurofacedis.runner.jobs import FitJob

__all__ = ["AnalysisResult"]


@dataclass
class AnalysisResult:
    """What :func:`analyze` returns: the summary dict, the full metric results and the jobs.

    ``results`` maps ``(metric, model label, seed)`` to the metric's Dataset; ``objects`` the
    same keys to the metric objects that computed them (they draw the figures).
    """

    summary: dict[str, Any]
    results: dict[tuple[str, str, int], Any]
    jobs: list[FitJob]
    out: Path | None
    objects: dict[tuple[str, str, int], Any] = field(default_factory=dict, repr=False)

    @property
    def ok(self) -> bool:
        """True when no plugin failed."""
        return not self.summary["errors"]

    def _repr_html_(self) -> str:
        """Return the verdict table, as the report opens (Jupyter shows the result so)."""
        from neurofacedis.report import verdict_html

        return verdict_html(self.summary)

    def dataset(self, metric: str, model: str | None = None, seed: int | None = None) -> Any:
        """Return the xarray Dataset one metric computed on one fit.

        ``model`` is a model label (default: the metric's best model in the verdict, else the
        first), ``seed`` one of its seeds (default: the first). Unknown names raise
        :class:`~neurofacedis.errors.UnknownNameError` listing the choices.
        """
        keys = sorted(self.results)
        metric = _choose(metric, sorted({m for m, _, _ in keys}), "metric")
        labels = sorted({lab for m, lab, _ in keys if m == metric})
        if model is None:
            best = (self.summary.get("verdict") or {}).get(metric, {}).get("best")
            model = best if best in labels else labels[0]
        model = _choose(model, labels, "model")
        seeds = [str(s) for m, lab, s in keys if m == metric and lab == model]
        seed = int(_choose(seeds[0] if seed is None else str(seed), seeds, "seed"))
        return self.results[(metric, model, seed)]

    def figure(self, name: str) -> Any:
        """Return one of the run's figures as a matplotlib Figure.

        ``name`` is ``METRIC__MODEL__FIGURE`` as the PNGs in ``OUT/figures/`` are named
        (:meth:`figure_names`). A metric's figure is drawn again by the metric from its
        result (first seed), so it works without ``out``; other figures (model traversals,
        the seeds summary) exist only as written PNGs and are shown with ``imshow``.
        """
        from neurofacedis._util import safe_name

        first: dict[tuple[str, str], int] = {}
        for (metric, label, seed) in sorted(self.results):
            first.setdefault((metric, label), seed)
        for (metric, label), seed in first.items():
            prefix = f"{safe_name(metric)}__{safe_name(label)}__"
            obj = self.objects.get((metric, label, seed))
            if name.startswith(prefix) and callable(getattr(obj, "figures", None)):
                import matplotlib.pyplot as plt

                figs = obj.figures(self.results[(metric, label, seed)]) or {}
                names = {safe_name(k): k for k in figs}
                want = _choose(name[len(prefix):], sorted(names), "figure")
                for key, fig in figs.items():
                    if key != names[want]:
                        plt.close(fig)
                return figs[names[want]]
        pngs = {p.stem: p for p in self._pngs()}
        return _png_figure(pngs[_choose(name, self.figure_names(), "figure")])

    def figure_names(self) -> list[str]:
        """Return the run's figure names, as in ``OUT/figures/`` (summary.json ``figures``)."""
        return sorted({Path(f).stem for f in self.summary.get("figures", [])}
                      | {p.stem for p in self._pngs()})

    def _pngs(self) -> list[Path]:
        if self.out is None or not (self.out / "figures").is_dir():
            return []
        return sorted((self.out / "figures").glob("*.png"))


def _choose(name: str, names: list[str], what: str) -> str:
    """``name`` if it is one of ``names``, else a one-line error listing them."""
    if name in names:
        return name
    raise UnknownNameError(f"no {what} {name!r} in this result; choose one of "
                           f"{', '.join(names) or 'none'}", obj=what)


def _png_figure(path: Path) -> Any:
    import matplotlib.pyplot as plt

    image = plt.imread(path)
    h, w = image.shape[:2]
    fig = plt.figure(figsize=(w / 100, h / 100), dpi=100)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.imshow(image)
    ax.set_axis_off()
    return fig
