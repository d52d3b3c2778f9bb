"""Errors and warnings that logolens raises on purpose.

Every error here renders as one line that names the offending file (and line, where there is one),
so the command line can print ``str(error)`` and nothing else. Library code raises these instead of
printing or exiting; :mod:`logolens.cli` turns them into a one-line message and a non-zero exit.
"""

from __future__ import annotations

from pathlib import Path


class LogolensError(Exception):
    """Base class of every error logolens raises deliberately."""


class DataError(LogolensError, ValueError):
    """Malformed input data: an annotation line, an image, a dataset folder.

    ``path`` and ``line`` (1-based, or ``None``) locate the problem; the message says what is
    wrong and, where it helps, what was expected.
    """

    def __init__(self, path: str | Path, message: str, line: int | None = None):
        self.path = Path(path)
        self.line = line
        self.reason = message
        where = f"{self.path}:{line}" if line is not None else str(self.path)
        super().__init__(f"{where}: {message}")


class ImageError(DataError):
    """An image that cannot be used: unreadable, truncated, not an image, or too large."""


class ModelError(LogolensError, ValueError):
    """A model directory that is missing, incomplete, or written by an incompatible version."""


class NotFittedError(LogolensError, ValueError):
    """An estimator was asked to predict before ``fit`` was called."""


class LogolensWarning(UserWarning):
    """Something was skipped or repaired, safely: the message names the file and line."""


class GalleryError(ModelError):
    """A brand gallery that cannot be used: made with another embedding, unreadable, or a brand
    operation that does not apply (an unknown, reserved or trained brand name)."""
