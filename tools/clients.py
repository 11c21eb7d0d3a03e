"""The real skill clients the distribution tests drive, at pinned versions, from npm.

Claude Code (``claude plugin validate``, ``plugin details``, marketplace install and update) and
the ``skills`` CLI behind ``npx skills add`` are installed once into a cache outside the
repository, shared by every clone and worktree on the machine:
``$SQLA_SKILL_CLIENTS_CACHE``, else ``$XDG_CACHE_HOME/sqlalchemy-async-skill/npm``, else
``~/.cache/sqlalchemy-async-skill/npm``. Each version gets its own directory, installed into a
staging directory and renamed into place, so a run that is killed midway leaves nothing
half-installed. ``python -m tools.clients`` installs both and prints where.

Only the standard library is used: this module also runs outside the test environment.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class NpmClient:
    package: str
    version: str
    command: str
    why: str


# Bump deliberately: a new client version can change what the validator reports.
CLAUDE_CODE = NpmClient(
    "@anthropic-ai/claude-code", "2.1.337", "claude", "Claude Code: plugin validate/details/install"
)
# skills >= 1.6 needs Node.js >= 22.20; 1.5.8 is the newest that runs on the Node.js 20 of
# Debian 12, and copies a repository with a root SKILL.md the same way.
SKILLS_CLI = NpmClient("skills", "1.5.8", "skills", "the CLI behind `npx skills add`")
CLIENTS = (CLAUDE_CODE, SKILLS_CLI)


class ClientUnavailable(RuntimeError):
    """npm is missing or the registry could not be reached: the message says what to do."""


def cache_dir() -> Path:
    override = os.environ.get("SQLA_SKILL_CLIENTS_CACHE")
    if override:
        return Path(override)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "sqlalchemy-async-skill" / "npm"


def _prefix(client: NpmClient) -> Path:
    return cache_dir() / f"{client.package.replace('/', '+')}@{client.version}"


def client_env(home: Path) -> dict[str, str]:
    """The environment to run a client in: a throwaway HOME (with TMPDIR and the XDG dirs
    inside it; TMPDIR is created), no credentials from the caller's environment, no telemetry,
    no auto-update, and so nothing to log in to or prompt about."""
    (home / "tmp").mkdir(parents=True, exist_ok=True)
    return {
        "PATH": os.environ.get("PATH", os.defpath),
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "XDG_STATE_HOME": str(home / ".local" / "state"),
        "TMPDIR": str(home / "tmp"),
        "LANG": "C.UTF-8",
        "NO_COLOR": "1",
        "CI": "true",
        "DISABLE_AUTOUPDATER": "1",
        "DISABLE_TELEMETRY": "1",
        "DISABLE_ERROR_REPORTING": "1",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DO_NOT_TRACK": "1",
    }


def _reports_version(executable: Path, version: str) -> bool:
    with tempfile.TemporaryDirectory() as home:
        try:
            proc = subprocess.run(
                [str(executable), "--version"],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=60,
                env=client_env(Path(home)),
            )
        except OSError:
            return False
    return proc.returncode == 0 and version in proc.stdout


def installed(client: NpmClient) -> Path:
    """The client's executable, installed into the cache first if it is not there yet."""
    prefix = _prefix(client)
    executable = prefix / "node_modules" / ".bin" / client.command
    if executable.exists():
        return executable
    npm = shutil.which("npm")
    if npm is None:
        raise ClientUnavailable(
            f"npm is needed to install {client.package}@{client.version} ({client.why}); "
            "install Node.js with npm (Debian: apt-get install -y nodejs npm)"
        )
    prefix.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{prefix.name}.", dir=prefix.parent))
    try:
        proc = subprocess.run(
            [
                npm,
                "install",
                "--prefix",
                str(staging),
                "--no-audit",
                "--no-fund",
                "--loglevel=error",
                f"{client.package}@{client.version}",
            ],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=900,
        )
        if proc.returncode != 0:
            raise ClientUnavailable(
                f"npm install {client.package}@{client.version} failed (exit {proc.returncode}):\n"
                f"{proc.stdout}{proc.stderr}"
            )
        staged = staging / "node_modules" / ".bin" / client.command
        if not _reports_version(staged, client.version):
            raise ClientUnavailable(
                f"{staged} does not run or does not report version {client.version}"
            )
        try:
            staging.rename(prefix)
        except OSError:
            if not executable.exists():  # not just another run that finished first
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return executable


def main() -> int:
    for client in CLIENTS:
        try:
            print(f"{client.package}@{client.version}: {installed(client)}")
        except ClientUnavailable as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
