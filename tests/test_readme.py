"""The README's first screen states facts: each one here is checked against its source."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from tools.clients import CLAUDE_CODE, SKILLS_CLI

REPO_ROOT = Path(__file__).resolve().parent.parent
README = (REPO_ROOT / "README.md").read_text()


def section(title: str) -> str:
    pattern = rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)"
    match = re.search(pattern, README, re.MULTILINE | re.DOTALL)
    assert match, f"README has no '## {title}' section"
    return match[1]


def test_quick_start_is_two_commands_install_then_test() -> None:
    fences = re.findall(r"```bash\n(.*?)```", section("Quick start"), re.DOTALL)
    assert len(fences) == 1
    commands = [line.split("#")[0].strip() for line in fences[0].splitlines()]
    assert [c for c in commands if c] == ["./install.sh", "./run-tests.sh"]


def test_every_ratio_cited_is_in_the_performance_summary() -> None:
    performance = (REPO_ROOT / "references" / "performance.md").read_text()
    summary = performance.split("## Summary", 1)[1].split("\n## ", 1)[0]
    cited = re.findall(r"\b\d+(?:\.\d+)?x\b", README.split("## Install", 1)[0])
    assert len(cited) >= 3
    for ratio in cited:
        assert re.search(rf"\b{re.escape(ratio)}\b", summary), f"{ratio} is not in the Summary"
    assert "3 statements instead of 1,001" in summary


def test_test_count_in_the_readme_is_a_floor_of_the_real_count() -> None:
    """'more than N tests': counted by collecting the whole suite on every lane."""
    (claimed,) = re.findall(r"more than ([\d,]+) tests", README)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--collect-only",
            "-q",
            "-p",
            "no:cacheprovider",
            "--lanes",
            "sqlite,postgresql,mysql",
            str(REPO_ROOT / "tests"),
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    match = re.search(r"^(\d+) tests collected", proc.stdout, re.MULTILINE)
    assert match, proc.stdout[-2000:] + proc.stderr
    assert int(match[1]) > int(claimed.replace(",", ""))


def test_install_and_update_lines_name_this_repository() -> None:
    plugin = json.loads((REPO_ROOT / ".claude-plugin" / "plugin.json").read_text())
    marketplace = json.loads((REPO_ROOT / ".claude-plugin" / "marketplace.json").read_text())
    owner_repo = plugin["repository"].removeprefix("https://github.com/")
    plugin_id = f"{plugin['name']}@{marketplace['name']}"
    install, update = section("Install"), section("Update")
    assert f"/plugin install {plugin['name']} --marketplace {owner_repo}" in install
    assert f"/plugin marketplace add {owner_repo}" in install
    assert f"/plugin install {plugin_id}" in install
    assert f"npx skills add {owner_repo}" in install
    assert "`./install.sh --agents`" in install
    assert f"/plugin marketplace update {marketplace['name']}" in update
    assert f"/plugin update {plugin_id}" in update
    assert f"https://github.com/{owner_repo}.git" in README


def test_the_client_versions_named_are_the_pinned_ones() -> None:
    assert f"Claude Code {CLAUDE_CODE.version}" in section("Update")
    assert f"skills CLI ({SKILLS_CLI.version})" in section("Update")


def test_release_command_is_documented() -> None:
    assert "python -m tools.release 0.2.0" in section("Releasing a version")
