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
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing figure."),
) -> None:
    """Simulate null and effect worlds; print each test's false-positive rate and the power."""
    from neurofacedis._outputs import check_output_file
    from neurofacedis.calibrate import run_calibration

    if figure is not None:
        check_output_file(figure, overwrite=overwrite)  # before minutes of simulation
    result = run_calibration(n_null, n_power, n_permutations=permutations, n_jobs=jobs,
                             seed=seed)
    typer.echo(result.markdown())
    if result.curves:
        typer.echo(result.power_markdown())
    if figure is not None:
        typer.echo(f"wrote {result.plot(figure)}")
