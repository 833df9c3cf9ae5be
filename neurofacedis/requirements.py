"""Kept importable for one release: see :mod:`neurofacedis.runner.requirements`.

New code imports the requirement table from there.
"""

from __future__ import annotations

from neurofacedis.runner.requirements import (
    builtin_requirements,
    check_requirements,
    reason,
    unmet,
)

__all__ = ["builtin_requirements", "unmet", "reason", "check_requirements"]
