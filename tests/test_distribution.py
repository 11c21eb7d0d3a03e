"""The install routes, driven by the real clients: Claude Code's plugin validator and token count,
a marketplace install and its update after a release, and ``npx skills add``.

Each test works on a clean copy of the repository (the files git tracks or would track, as a
fresh clone has them) and runs the client in a throwaway HOME with no credentials, so nothing
logs in, prompts or writes outside tmp_path. The clients are pinned in tools/clients.py and
installed from npm into a cache on first use; without npm the tests fail, they never skip.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tools import icon
from tools.clients import CLAUDE_CODE, SKILLS_CLI, ClientUnavailable, NpmClient, client_env
from tools.clients import installed as installed_client
from tools.release import current_version

REPO_ROOT = Path(__file__).resolve().parent.parent
PLUGIN = "sqlalchemy-async"
MARKETPLACE = json.loads((REPO_ROOT / ".claude-plugin" / "marketplace.json").read_text())["name"]
PLUGIN_ID = f"{PLUGIN}@{MARKETPLACE}"
ON_INVOKE_BUDGET = 5000  # tokens an assistant pays each time the skill fires


@dataclass(frozen=True)
class Client:
    """One pinned client, run in its own throwaway HOME."""

    executable: Path
    home: Path

    def run(self, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [str(self.executable), *args],
            cwd=cwd or self.home,
            env=client_env(self.home),
            stdin=subprocess.DEVNULL,  # CI has no terminal: a prompt would fail, not hang
            capture_output=True,
            text=True,
            timeout=300,
        )
        shown = f"{self.executable.name} {' '.join(args)}\n{proc.stdout}{proc.stderr}"
        assert proc.returncode == 0, shown
        return proc


def _installed(client: NpmClient) -> Path:
    try:
        return installed_client(client)
    except ClientUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def claude_executable() -> Path:
    return _installed(CLAUDE_CODE)


@pytest.fixture(scope="session")
def skills_executable() -> Path:
    return _installed(SKILLS_CLI)


@pytest.fixture
def claude(claude_executable: Path, tmp_path: Path) -> Client:
    return Client(claude_executable, tmp_path / "home")


@pytest.fixture
def skills_cli(skills_executable: Path, tmp_path: Path) -> Client:
    return Client(skills_executable, tmp_path / "home")


def clean_copy(dest: Path) -> Path:
    """The files a fresh clone has (tracked, or new and not ignored), without .git."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO_ROOT,
        capture_output=True,
        check=True,
        timeout=60,
    ).stdout.decode()
    for rel in filter(None, listed.split("\0")):
        source = REPO_ROOT / rel
        if source.is_file():  # a tracked file deleted in the work tree is not in a clone
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / rel)
    return dest


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return clean_copy(tmp_path / "sqlalchemy-async-skill")


def release(repo: Path) -> str:
    """Release the next minor version in the copy with the documented command."""
    major, minor, _ = (int(part) for part in current_version(repo).split("."))
    version = f"{major}.{minor + 1}.0"
    subprocess.run(
        [sys.executable, "-m", "tools.release", version, "--date", "2030-01-01"],
        cwd=repo,
        check=True,
        capture_output=True,
        timeout=60,
    )
    return version


def skill_version(skill_md: Path) -> str:
    match = re.search(r'^  version: "([^"]+)"$', skill_md.read_text(), re.MULTILINE)
    assert match, f"no metadata version in {skill_md}"
    return match[1]


# ------------------------------------------------------------------------ plugin validator


def test_claude_plugin_validate_passes_with_nothing_to_report(claude: Client, repo: Path) -> None:
    """`claude plugin validate .`, as a maintainer or CI runs it: exit 0, no warning."""
    out = claude.run("plugin", "validate", ".", cwd=repo).stdout
    assert "Validation passed" in out
    assert "⚠" not in out, out
    assert "✘" not in out, out
    assert "These checks found nothing to report" in out  # the plugin directory's own checks


@pytest.mark.parametrize(
    "target", [".", ".claude-plugin/plugin.json"], ids=["marketplace", "plugin-manifest"]
)
def test_claude_plugin_validate_strict_directory_profile(
    claude: Client, repo: Path, target: str
) -> None:
    """Both manifests, with warnings as errors and the plugin directory's submission checks:
    no error, no warning, no finding, no advice."""
    proc = claude.run(
        "plugin", "validate", "--json", "--strict", "--profile", "directory", target, cwd=repo
    )
    report: dict[str, Any] = json.loads(proc.stdout)
    shown = json.dumps(report, indent=1)
    assert report["success"] is True, shown
    assert report["manifest"]["errors"] == [], shown
    assert report["manifest"]["warnings"] == [], shown
    directory = report["directory"]
    assert directory["findings"] == [], shown
    assert directory["undecided"] == [], shown
    assert directory["incomplete"] is False, shown
    assert directory["failure"] is None, shown
    assert report["advice"] == [], shown
    assert report["provides"]["skills"] == [f"{PLUGIN}:{PLUGIN}"], shown


def _tokens(shown: str) -> int:
    """The most a rounded figure such as ~120 or ~4.3k can stand for."""
    match = re.fullmatch(r"~?(\d+(?:\.\d)?)(k?)", shown)
    assert match, f"unexpected token figure {shown!r}"
    if match[2]:
        return round((float(match[1]) + 0.05) * 1000)
    return int(match[1])


def test_plugin_details_one_skill_within_the_on_invoke_budget(claude: Client, repo: Path) -> None:
    out = claude.run("--plugin-dir", ".", "plugin", "details", PLUGIN, cwd=repo).stdout
    assert f"{PLUGIN} {current_version(repo)}" in out
    assert re.search(rf"^\s*Skills \(1\)\s+{PLUGIN}\s*$", out, re.MULTILINE), out
    row = re.search(rf"^\s*{PLUGIN}\s+(\S+)\s+(\S+)\s*$", out, re.MULTILINE)
    assert row, out
    always_on, on_invoke = _tokens(row[1]), _tokens(row[2])
    assert on_invoke <= ON_INVOKE_BUDGET, f"on invoke: {row[2]} tokens\n{out}"
    assert always_on <= 300, f"always on (name and description): {row[1]} tokens\n{out}"


def test_icon_is_what_tools_icon_draws() -> None:
    assert icon.ICON.read_bytes() == icon.png(), "run: python -m tools.icon"


# -------------------------------------------------------------------------- install routes


def _installed_plugins(claude: Client) -> dict[str, dict[str, Any]]:
    listed = json.loads(claude.run("plugin", "list", "--json").stdout)
    return {entry["id"]: entry for entry in listed}


@pytest.mark.parametrize("route", ["one-step", "add-then-install"])
def test_marketplace_install_then_update_after_a_release(
    claude: Client, repo: Path, route: str
) -> None:
    """The README's plugin route from a local copy of the marketplace (a GitHub one needs the
    network): install, then release a new version and update."""
    version = current_version(repo)
    if route == "one-step":
        claude.run("plugin", "install", PLUGIN, "--marketplace", str(repo))
    else:
        claude.run("plugin", "marketplace", "add", str(repo))
        claude.run("plugin", "install", PLUGIN_ID)
    entry = _installed_plugins(claude)[PLUGIN_ID]
    assert entry["version"] == version
    assert entry["enabled"] is True
    copy = Path(entry["installPath"])
    assert copy.is_relative_to(claude.home)
    assert skill_version(copy / "SKILL.md") == version
    # The plugin is the repository's root, so the whole repository is copied.
    assert {p.name for p in copy.iterdir()} == {p.name for p in repo.iterdir()}

    new_version = release(repo)
    claude.run("plugin", "marketplace", "update", MARKETPLACE)  # the README's update steps
    out = claude.run("plugin", "update", PLUGIN_ID).stdout
    assert f"updated from {version} to {new_version}" in out
    entry = _installed_plugins(claude)[PLUGIN_ID]
    assert entry["version"] == new_version
    assert skill_version(Path(entry["installPath"]) / "SKILL.md") == new_version


def test_npx_skills_add_copies_the_repository_for_each_agent(
    skills_cli: Client, repo: Path
) -> None:
    """`npx skills add` (the skills CLI) with Claude Code and Codex chosen: a copy of the whole
    repository in ~/.claude/skills and in ~/.agents/skills; adding again updates both."""
    project = skills_cli.home / "project"
    project.mkdir(parents=True)
    add = ("add", str(repo), "--global", "--yes", "--copy", "--agent", "claude-code", "codex")
    skills_cli.run(*add, cwd=project)
    copies = [skills_cli.home / folder / "skills" / PLUGIN for folder in (".claude", ".agents")]
    visible = {p.name for p in repo.iterdir() if not p.name.startswith(".")}
    for copy in copies:
        assert (copy / "SKILL.md").read_text() == (repo / "SKILL.md").read_text()
        assert {p.name for p in copy.iterdir() if not p.name.startswith(".")} == visible
    new_version = release(repo)
    skills_cli.run(*add, cwd=project)
    for copy in copies:
        assert skill_version(copy / "SKILL.md") == new_version


@pytest.fixture(autouse=True)
def _nothing_left_in_the_repository() -> Iterator[None]:
    """The clients run on copies: the repository itself is never written to."""
    before = sorted(p.name for p in REPO_ROOT.iterdir())
    yield
    assert sorted(p.name for p in REPO_ROOT.iterdir()) == before
