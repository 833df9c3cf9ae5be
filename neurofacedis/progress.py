"""Progress reporting: rich progress bars for the runner, a no-op when quiet.

Plugins receive a plain callback ``progress(advance=1, total=None, description=None)``; the
runner turns it into a rich task. Every text shown here is data (model labels such as
``beta_vae[beta=2]``, file names, error messages), so none of it is read as rich markup.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["Reporter"]


class Reporter:
    """Owns one rich Progress (or nothing when ``quiet``) and hands out task callbacks."""

    def __init__(self, *, quiet: bool = False, console: Any = None):
        self.quiet = quiet
        self._progress = None
        self._console = console

    def __enter__(self) -> Reporter:
        if not self.quiet:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            self._progress = Progress(
                TextColumn("[progress.description]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=self._console or Console(stderr=True),
                transient=False,
            )
            self._progress.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._progress is not None:
            self._progress.__exit__(*exc)
            self._progress = None

    def log(self, head: str, detail: str = "", *, style: str | None = None) -> None:
        """Print ``head`` (in ``style``) and ``detail`` as one line above the bars.

        Both are plain text, never markup. Nothing is printed when quiet: what matters
        (errors, warnings) is in the summary, which the CLI prints in any case.
        """
        if self._progress is not None:
            from rich.text import Text

            line = Text(head, style=style or "")
            if detail:
                line.append(" " + detail)
            self._progress.console.print(line, highlight=False, soft_wrap=True)

    @contextmanager
    def task(self, description: str, total: float | None = None) -> Iterator[Callable[..., None]]:
        """Yield a progress callback for one step; the bar completes when the block ends."""
        if self._progress is None:
            yield _noop
            return
        progress = self._progress
        task_id = progress.add_task(_plain(description), total=total)

        def callback(
            advance: float = 1, total: float | None = None, description: str | None = None
        ) -> None:
            kwargs: dict[str, Any] = {"advance": advance}
            if total is not None:
                kwargs["total"] = total
            if description is not None:
                kwargs["description"] = _plain(description)
            progress.update(task_id, **kwargs)

        try:
            yield callback
        finally:
            task = progress.tasks[task_id] if task_id < len(progress.tasks) else None
            if task is not None:
                done_total = task.total if task.total is not None else max(task.completed, 1)
                progress.update(task_id, total=done_total, completed=done_total)


def _noop(*args: Any, **kwargs: Any) -> None:
    return None


def _plain(text: str) -> str:
    """Escape ``text`` for the description column, which rich reads as markup."""
    from rich.markup import escape

    return escape(str(text))
