"""User-facing errors: one line naming the file, the object and what is wrong.

The CLI turns every :class:`NeurofacedisError` into that one line on stderr and exit code 2
(``--debug`` shows the traceback). Library code raises these instead of asserting.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["NeurofacedisError", "InputError", "MissingDataError", "PluginError",
           "UnknownNameError"]


class NeurofacedisError(Exception):
    """Base class: an error a user can act on, rendered as one line.

    Parameters
    ----------
    problem
        What is wrong, in a few words.
    file
        The file concerned, if any.
    obj
        The object inside the file (an NWB path, a table column, a plugin name...).
    """

    exit_code = 2

    def __init__(self, problem: str, *, file: str | Path | None = None, obj: str | None = None):
        self.problem = problem
        self.file = str(file) if file is not None else None
        self.obj = obj
        super().__init__(self.one_line())

    def one_line(self) -> str:
        """Render as ``FILE: OBJECT: problem`` (missing parts left out)."""
        parts = [p for p in (self.file, self.obj) if p]
        return ": ".join([*parts, self.problem])


class InputError(NeurofacedisError):
    """Bad input data: unreadable, inconsistent or out of range."""


class MissingDataError(InputError):
    """A readable file lacks what analysis needs (no stimuli, no neural data).

    ``analyze`` refuses it like any bad input; ``inspect`` describes the file instead.
    """


class PluginError(NeurofacedisError):
    """A plugin broke its contract (bad spec, exception, wrong shape, NaNs)."""


class UnknownNameError(NeurofacedisError):
    """A model, metric or dataset name that is not installed ("did you mean ...")."""
