"""Progress and log lines: the one owner of what long runs print on stderr.

Plugins receive a plain callback ``progress(advance=1, total=None, description=None)``; a
:class:`Reporter` turns it into one of three renderings, chosen by :func:`set_log_format`:

``rich``
    live progress bars (the default when stderr is a terminal);
``plain``
    timestamped lines ``TIME STAGE DONE/TOTAL (PCT) elapsed E eta R``, the first and the last
    of each step always, in between at most one every ``interval`` seconds (10 by default):
    the default when stderr is not a terminal (a cluster job's log, ``nohup``, CI);
``json``
    one JSON object per event on one line (``{"time", "event", ...}``), for pipelines.

``auto`` (the default) picks ``rich`` or ``plain`` by whether the stream is a terminal.
Every text shown here is data (model labels such as ``beta_vae[beta=2]``, file names, error
messages), so none of it is read as rich markup.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import datetime
from typing import Any, TextIO

__all__ = ["LOG_FORMATS", "Reporter", "emit", "log_format", "print_table", "set_log_format"]

#: The renderings :func:`set_log_format` accepts.
LOG_FORMATS = ("auto", "rich", "plain", "json")

_SETTINGS: dict[str, Any] = {"format": "auto", "interval": 10.0}


def set_log_format(fmt: str = "auto", *, interval: float | None = None) -> tuple[str, float]:
    """Choose how progress and log lines are printed (for this process); return the previous.

    Parameters
    ----------
    fmt
        One of :data:`LOG_FORMATS`.
    interval
        Seconds between two plain/json progress lines of one step (first and last always).

    Returns
    -------
    (format, interval)
        The settings before this call, to restore them.
    """
    previous = (_SETTINGS["format"], _SETTINGS["interval"])
    if fmt not in LOG_FORMATS:
        raise ValueError(f"log format must be one of {', '.join(LOG_FORMATS)}, got {fmt!r}")
    _SETTINGS["format"] = fmt
    if interval is not None:
        if not interval >= 0:
            raise ValueError(f"log interval must be >= 0 seconds, got {interval!r}")
        _SETTINGS["interval"] = float(interval)
    return previous


def log_format(console: Any = None) -> str:
    """Return the rendering in force for ``console`` (default: stderr): rich, plain or json."""
    fmt = _SETTINGS["format"]
    if fmt != "auto":
        return fmt
    if console is None:  # rich's view of stderr: honours FORCE_TERMINAL, TTY_COMPATIBLE...
        from rich.console import Console

        console = Console(stderr=True)
    return "rich" if console.is_terminal or console.is_jupyter else "plain"


def emit(event: str, message: str, *, stream: TextIO | None = None, **fields: Any) -> None:
    """Write one line on stderr: ``message`` as it is, or (json) a JSON object.

    ``event`` names the kind of line (``error``, ``warning``, ``skipped``, ``result``...);
    ``fields`` are added to the JSON object only.
    """
    out = stream if stream is not None else sys.stderr
    if log_format() == "json":
        line = _json_line(event, message=message, **fields)
    else:
        line = message
    out.write(line + "\n")
    out.flush()


def print_table(table: Any, con: Any = None) -> None:
    """Print a rich table; off a terminal, at the width that keeps every cell whole."""
    from rich.console import Console
    from rich.measure import Measurement

    con = con if con is not None else Console()
    if not con.is_terminal and not con.is_jupyter:
        wide = con.options.update_width(1_000_000)
        need = Measurement.get(con, wide, table).maximum
        if need > con.width:
            con = Console(file=con.file, width=need, color_system=None)
    con.print(table)


class Reporter:
    """Owns one progress display (or nothing when ``quiet``) and hands out task callbacks.

    Parameters
    ----------
    quiet
        Show nothing (errors and results are the caller's to print).
    console
        The rich Console to draw on (default: a new one on stderr).
    unit
        ``"bytes"`` shows sizes and speed instead of counts (downloads).
    transient
        Remove rich bars when done (plain/json lines always stay).
    """

    def __init__(self, *, quiet: bool = False, console: Any = None, unit: str | None = None,
                 transient: bool = False):
        self.quiet = quiet
        self._progress = None
        self._lines: _Lines | None = None
        self._console = console
        self._unit = unit
        self._transient = transient

    def __enter__(self) -> Reporter:
        if self.quiet:
            return self
        fmt = log_format(self._console)
        if fmt == "rich":
            self._progress = _rich_progress(self._console, self._unit, self._transient)
            self._progress.__enter__()
        else:
            stream = self._console.file if self._console is not None else sys.stderr
            self._lines = _Lines(stream, json_lines=fmt == "json", unit=self._unit)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._progress is not None:
            self._progress.__exit__(*exc)
            self._progress = None
        self._lines = None

    def log(self, head: str, detail: str = "", *, style: str | None = None) -> None:
        """Print ``head`` (in ``style``) and ``detail`` as one line above the bars.

        Both are plain text, never markup. Nothing is printed when quiet: what matters
        (errors, warnings) is in the summary, which the CLI prints in any case.
        """
        if self._lines is not None:
            self._lines.log(head, detail)
        elif self._progress is not None:
            from rich.text import Text

            line = Text(head, style=style or "")
            if detail:
                line.append(" " + detail)
            self._progress.console.print(line, highlight=False, soft_wrap=True)

    @contextmanager
    def task(self, description: str, total: float | None = None) -> Iterator[Callable[..., None]]:
        """Yield a progress callback for one step; the step completes when the block ends."""
        if self._lines is not None:
            with self._lines.task(description, total) as callback:
                yield callback
            return
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


    @contextmanager
    def on_demand(self, label: str) -> Iterator[Callable[..., None]]:
        """Yield a callback whose step starts at its first call (nothing is shown before).

        For a command whose quick checks may still refuse the input before its long step
        reports: a refusal stays one line on stderr.
        """
        with ExitStack() as stack:
            started: list[Callable[..., None]] = []

            def callback(
                advance: float = 1, total: float | None = None, description: str | None = None
            ) -> None:
                if not started:
                    started.append(stack.enter_context(self.task(label, total)))
                started[0](advance, total=total, description=description)

            yield callback


class _Lines:
    """Progress as lines: timestamped text, or JSON objects; rate-limited per step."""

    def __init__(self, stream: TextIO, *, json_lines: bool, unit: str | None):
        self.stream, self.json_lines, self.unit = stream, json_lines, unit

    def _write(self, line: str) -> None:
        self.stream.write(line + "\n")
        self.stream.flush()

    def log(self, head: str, detail: str = "") -> None:
        text = f"{head} {detail}" if detail else head
        if self.json_lines:
            self._write(_json_line("log", message=text))
        else:
            self._write(f"{_now()} {text}")

    @contextmanager
    def task(self, description: str, total: float | None) -> Iterator[Callable[..., None]]:
        state = {"stage": str(description), "done": 0.0, "total": total}
        start = last = time.monotonic()
        self._progress(state, start, final=False)

        def callback(
            advance: float = 1, total: float | None = None, description: str | None = None
        ) -> None:
            nonlocal last
            state["done"] += advance
            if total is not None:
                state["total"] = total
            if description is not None:
                state["stage"] = str(description)
            now = time.monotonic()
            if now - last >= _SETTINGS["interval"]:
                last = now
                self._progress(state, start, final=False)

        try:
            yield callback
        except BaseException:
            self._progress(state, start, final=True, stopped=True)
            raise
        if state["total"] is None:
            state["total"] = max(state["done"], 1)
        state["done"] = state["total"]
        self._progress(state, start, final=True)

    def _progress(self, state: dict[str, Any], start: float, *, final: bool,
                  stopped: bool = False) -> None:
        elapsed = time.monotonic() - start
        done, total = state["done"], state["total"]
        eta = None
        if final and not stopped:
            eta = 0.0
        elif not final and total and done > 0:
            eta = elapsed * max(total - done, 0) / done
        if self.json_lines:
            self._write(_json_line(
                "progress", stage=state["stage"], done=_number(done), total=_number(total),
                unit=self.unit or "items", elapsed_s=round(elapsed, 3),
                eta_s=None if eta is None else round(eta, 3), final=final,
                **({"stopped": True} if stopped else {}),
            ))
            return
        count = f"{_number(done)}/{'?' if total is None else _number(total)}"
        if self.unit:
            count += f" {self.unit}"
        pct = f" ({100 * done / total:.0f}%)" if total else ""
        if final:
            tail = " stopped" if stopped else " done"
        else:
            tail = "" if eta is None else f" eta {_clock(eta)}"
        self._write(f"{_now()} {state['stage']} {count}{pct} elapsed {_clock(elapsed)}{tail}")


def _rich_progress(console: Any, unit: str | None, transient: bool) -> Any:
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TransferSpeedColumn,
    )

    counts = (DownloadColumn(), TransferSpeedColumn()) if unit == "bytes" else (
        MofNCompleteColumn(), TimeElapsedColumn())
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        *counts,
        console=console or Console(stderr=True),
        transient=transient,
    )


def _json_line(event: str, **fields: Any) -> str:
    return json.dumps({"time": _now(), "event": event, **fields}, default=str,
                      ensure_ascii=False)


def _now() -> str:
    return datetime.now().astimezone().isoformat(timespec="seconds")


def _clock(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


def _number(x: float | None) -> float | int | None:
    if x is None:
        return None
    return int(x) if float(x).is_integer() else round(float(x), 3)


def _noop(*args: Any, **kwargs: Any) -> None:
    return None


def _plain(text: str) -> str:
    """Escape ``text`` for the description column, which rich reads as markup."""
    from rich.markup import escape

    return escape(str(text))
