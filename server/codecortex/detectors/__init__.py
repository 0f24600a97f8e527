"""Detectors: run real tools (ruff, mypy, pyflakes, tsc, eslint, cargo check) and turn their
machine-readable output into :class:`codecortex.diagnostics.Diagnostic` objects per file."""

from codecortex.detectors.parsers import DetectorOutputError
from codecortex.detectors.runner import (
    DEFAULT_MAX_FILE_SIZE,
    DetectorRun,
    run_detectors,
    run_detectors_sync,
)
from codecortex.detectors.tools import TOOLS, available_detectors, find_executable

__all__ = [
    "DEFAULT_MAX_FILE_SIZE",
    "TOOLS",
    "DetectorOutputError",
    "DetectorRun",
    "available_detectors",
    "find_executable",
    "run_detectors",
    "run_detectors_sync",
]
