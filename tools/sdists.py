"""Source distributions from PyPI, pinned by sha256, downloaded once into a cache outside the
repository and unpacked there.

Tests read real released code with them: the checker's corpus of third-party packages, and
SQLAlchemy's own changelog for the version facts the skill states. The cache is
``$SQLA_SDIST_CACHE``, else ``~/.cache/sqlalchemy-async-skill/sdists``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

CACHE_ENV = "SQLA_SDIST_CACHE"


@dataclass(frozen=True)
class Package:
    name: str
    version: str
    sha256: str

    @property
    def key(self) -> str:
        return f"{self.name}-{self.version}"


def cache_dir() -> Path:
    configured = os.environ.get(CACHE_ENV)
    if configured:
        return Path(configured)
    return Path.home() / ".cache" / "sqlalchemy-async-skill" / "sdists"


def fetch(package: Package, cache: Path | None = None) -> Path:
    """The unpacked sdist (its top directory), downloaded and checked on first use.

    Raises RuntimeError when pip cannot download it or the sha256 differs from the pin."""
    cache = cache or cache_dir()
    target = cache / package.key
    if (target / ".complete").is_file():
        return target
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache, prefix=".download-") as tmp:
        work = Path(tmp)
        download = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--quiet",
                "--disable-pip-version-check",
                "--no-deps",
                "--no-binary",
                package.name,
                "--dest",
                str(work / "sdist"),
                f"{package.name}=={package.version}",
            ],
            check=False,
            capture_output=True,
            text=True,
        )
        if download.returncode != 0:
            raise RuntimeError(f"pip download {package.key} failed:\n{download.stderr}")
        (sdist,) = (work / "sdist").iterdir()
        digest = hashlib.sha256(sdist.read_bytes()).hexdigest()
        if digest != package.sha256:
            raise RuntimeError(f"{sdist.name}: sha256 {digest}, pinned {package.sha256}")
        with tarfile.open(sdist) as archive:
            archive.extractall(work / "unpacked", filter="data")
        (top,) = (work / "unpacked").iterdir()
        (top / ".complete").write_text(f"{sdist.name} {digest}\n")
        if target.exists():
            shutil.rmtree(target)  # a partial unpack from an interrupted run
        top.rename(target)
    return target
