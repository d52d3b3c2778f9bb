"""Small helpers shared across stages: atomic writes and friendly choice errors."""

from __future__ import annotations

import difflib
import json
import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any


def unknown_choice_message(kind: str, value: str, choices: Iterable[str]) -> str:
    """``unknown brand 'Adiddas' (did you mean 'Adidas'?); choose from: ...``"""
    choices = list(choices)
    close = difflib.get_close_matches(str(value), choices, n=3, cutoff=0.5)
    hint = f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""
    listed = ", ".join(choices[:30]) + (", ..." if len(choices) > 30 else "")
    return f"unknown {kind} {value!r}{hint}; choose from: {listed}"


def atomic_write(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Write ``path`` via ``write(tmp_path)`` then rename, so readers never see half a file.

    The temporary file lives in the same folder (same file system) and is removed on failure,
    leaving any previous version of ``path`` untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        write(tmp_path)
        os.replace(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def atomic_write_json(path: str | Path, payload: Any) -> Path:
    """JSON with sorted keys and a trailing newline: the same payload gives the same bytes."""
    return atomic_write_text(path, json.dumps(payload, indent=2, sort_keys=True) + "\n")
