"""``neurofacedis calibrate``: false-positive rates and power of every test the project prints."""

from __future__ import annotations

from pathlib import Path

import typer

__all__ = ["calibrate"]


def calibrate(
    n_null: int = typer.Option(200, "--n-null", min=1, help="Null datasets per test."),
    n_power: int = typer.Option(
        60, "--n-power", min=0, help="Datasets per point of each power curve (0: no curves)."),
    permutations: int = typer.Option(
        99, "--permutations", min=1, help="Permutations of the permutation tests."),
    jobs: int = typer.Option(0, "--jobs", min=0, help="Processes (0: every core)."),
    seed: int = typer.Option(0, "--seed", help="Seed: the same seed gives the same table."),
    figure: Path | None = typer.Option(
        None, "--figure", help="Write the power curves to this PNG file."),
    power_curves: Path | None = typer.Option(
        None, "--power-curves", help="Instead: simulate the reproduce claim tests' power "
        "curves and write them to this JSON file (--figure then draws them)."),
    datasets: int = typer.Option(
        1200, "--datasets", min=1, help="With --power-curves: simulated datasets per cell."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output."),
) -> None:
    """Simulate null and effect worlds; print each test's false-positive rate and the power."""
    from neurofacedis._outputs import check_output_file

    for out, what in ((figure, "out"), (power_curves, "power_curves")):
        if out is not None:  # before minutes of simulation
            check_output_file(out, overwrite=overwrite, what=what)
    if power_curves is not None:
        _power_curves(power_curves, figure, datasets, seed)
        return
    from neurofacedis.calibrate import run_calibration

    result = run_calibration(n_null, n_power, n_permutations=permutations, n_jobs=jobs,
                             seed=seed)
    typer.echo(result.markdown())
    if result.curves:
        typer.echo(result.power_markdown())
    if figure is not None:
        typer.echo(f"wrote {result.plot(figure)}")


def _power_curves(path: Path, figure: Path | None, datasets: int, seed: int) -> None:
    """Simulate the claim tests' curves, write the JSON (and the figure), say where."""
    from neurofacedis.calibrate import run_power_curves, write_power_curves

    curves = run_power_curves(datasets, seed)
    command = (f"neurofacedis calibrate --power-curves {path.name} --datasets {datasets} "
               f"--seed {seed}")
    typer.echo(f"wrote {write_power_curves(curves, path, command=command)}")
    if figure is not None:
        typer.echo(f"wrote {curves.plot(figure)}")
