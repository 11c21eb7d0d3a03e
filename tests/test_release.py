"""One version everywhere, and the release command that keeps it so.

The agreement test reads each file with the parser its client uses (tomllib, json, the Agent
Skills reference parser), not with tools/release.py's own line editing; the release command is
run as documented on a copy of the files it touches.
"""

from __future__ import annotations

import ast
import json
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tools.release import CHANGELOG, MARKETPLACE_JSON, PLUGIN_JSON, PYPROJECT, SKILL_MD, dump_json

REPO_ROOT = Path(__file__).resolve().parent.parent
AGENTSKILLS = Path(sys.executable).parent / "agentskills"
RELEASED = (PYPROJECT, PLUGIN_JSON, MARKETPLACE_JSON, SKILL_MD, CHANGELOG)


def skill_metadata(root: Path) -> dict[str, str]:
    out = subprocess.run(
        [str(AGENTSKILLS), "read-properties", str(root)],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    metadata: dict[str, str] = json.loads(out)["metadata"]
    return metadata


def versions_as_clients_read_them(root: Path) -> dict[str, str]:
    plugin = json.loads((root / PLUGIN_JSON).read_text())
    marketplace = json.loads((root / MARKETPLACE_JSON).read_text())
    (entry,) = [p for p in marketplace["plugins"] if p["name"] == plugin["name"]]
    return {
        "pyproject": tomllib.loads((root / PYPROJECT).read_text())["project"]["version"],
        "plugin.json": plugin["version"],
        "marketplace entry": entry["version"],
        "SKILL.md metadata": skill_metadata(root)["version"],
    }


def test_one_version_everywhere() -> None:
    found = versions_as_clients_read_them(REPO_ROOT)
    assert len(set(found.values())) == 1, found
    assert re.fullmatch(r"\d+\.\d+\.\d+", found["pyproject"])


def test_changelog_has_unreleased_and_the_current_version() -> None:
    text = (REPO_ROOT / CHANGELOG).read_text()
    version = versions_as_clients_read_them(REPO_ROOT)["pyproject"]
    headings = re.findall(r"^## (.+)$", text, re.MULTILINE)
    assert headings[0] == "Unreleased"
    assert any(re.fullmatch(rf"{re.escape(version)} - \d{{4}}-\d\d-\d\d", h) for h in headings)


def test_skill_metadata_names_the_sqlalchemy_lines_the_suite_runs() -> None:
    """metadata.tested-sqlalchemy lists exactly the lines noxfile.py tests (tests-2.0, ...)."""
    tree = ast.parse((REPO_ROOT / "noxfile.py").read_text())
    (lines,) = [
        ast.literal_eval(node.value)
        for node in tree.body
        if isinstance(node, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id == "SQLALCHEMY_LINES" for t in node.targets)
    ]
    assert skill_metadata(REPO_ROOT)["tested-sqlalchemy"] == ", ".join(lines)


def test_plugin_and_marketplace_describe_the_same_plugin() -> None:
    plugin = json.loads((REPO_ROOT / PLUGIN_JSON).read_text())
    (entry,) = json.loads((REPO_ROOT / MARKETPLACE_JSON).read_text())["plugins"]
    assert entry["name"] == plugin["name"] == "sqlalchemy-async"
    assert entry["description"] == plugin["description"]
    assert entry["source"] == "./"  # the plugin is the repository root, where SKILL.md is
    assert plugin["skills"] == ["./"]
    assert plugin["license"] == "MIT"
    assert "Copyright" in (REPO_ROOT / "LICENSE").read_text()


@pytest.mark.parametrize("path", [PLUGIN_JSON, MARKETPLACE_JSON])
def test_manifests_keep_the_layout_the_release_writes(path: str) -> None:
    """So a release changes only the version lines."""
    text = (REPO_ROOT / path).read_text()
    assert dump_json(json.loads(text)) == text


# ------------------------------------------------------------------------ the command


def copy_tree(dest: Path) -> Path:
    """The files the release touches, plus tools/ to run it from."""
    for rel in RELEASED:
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(REPO_ROOT / rel, dest / rel)
    caches = shutil.ignore_patterns("__pycache__")
    shutil.copytree(REPO_ROOT / "tools", dest / "tools", ignore=caches)
    return dest


def run_release(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tools.release", *args],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=60,
    )


def snapshot(root: Path) -> dict[str, bytes]:
    return {rel: (root / rel).read_bytes() for rel in RELEASED}


def next_minor(version: str) -> str:
    major, minor, _ = (int(part) for part in version.split("."))
    return f"{major}.{minor + 1}.0"


def test_release_sets_every_version_and_dates_the_changelog(tmp_path: Path) -> None:
    root = copy_tree(tmp_path)
    old = versions_as_clients_read_them(root)["pyproject"]
    new = next_minor(old)
    before = snapshot(root)
    unreleased_notes = (root / CHANGELOG).read_text().split("## Unreleased\n", 1)[1]
    unreleased_notes = unreleased_notes.split("\n## ", 1)[0]

    proc = run_release(root, new, "--date", "2030-01-02")

    assert proc.returncode == 0, proc.stderr
    assert set(versions_as_clients_read_them(root).values()) == {new}
    assert f"git tag v{new}" in proc.stdout
    # Only the version line changes in each versioned file.
    for rel in (PYPROJECT, PLUGIN_JSON, MARKETPLACE_JSON, SKILL_MD):
        old_lines = before[rel].decode().splitlines()
        new_lines = (root / rel).read_text().splitlines()
        changed = [(a, b) for a, b in zip(old_lines, new_lines, strict=True) if a != b]
        assert len(changed) == 1, (rel, changed)
        assert old in changed[0][0]
        assert new in changed[0][1]
    # The Unreleased notes now sit under the new version, below a fresh Unreleased heading.
    changelog = (root / CHANGELOG).read_text()
    assert f"## Unreleased\n\n## {new} - 2030-01-02\n{unreleased_notes}" in changelog
    assert changelog.replace(f"\n## {new} - 2030-01-02\n", "", 1) == before[CHANGELOG].decode()

    check = run_release(root, "--check")
    assert check.returncode == 0
    assert f"all agree: {new}" in check.stdout


def _same_version(root: Path) -> str:
    return str(versions_as_clients_read_them(root)["pyproject"])


def _lower_version(root: Path) -> str:
    return "0.0.1"


def _empty_unreleased(root: Path) -> str:
    text = (root / CHANGELOG).read_text()
    head, rest = text.split("## Unreleased\n", 1)
    (root / CHANGELOG).write_text(head + "## Unreleased\n\n## " + rest.split("\n## ", 1)[1])
    return next_minor(_same_version(root))


def _version_already_in_changelog(root: Path) -> str:
    version = next_minor(_same_version(root))
    text = (root / CHANGELOG).read_text()
    (root / CHANGELOG).write_text(text + f"\n## {version} - 2020-01-01\n\n- old notes\n")
    return version


def _versions_disagree(root: Path) -> str:
    data = json.loads((root / PLUGIN_JSON).read_text())
    data["version"] = "9.9.9"
    (root / PLUGIN_JSON).write_text(dump_json(data))
    return next_minor(_same_version(root))


@pytest.mark.parametrize(
    ("prepare", "args", "message"),
    [
        (None, ["0.2"], "not a version: '0.2'"),
        (None, ["v1.0.0"], "not a version: 'v1.0.0'"),
        (None, ["1.0.0", "--date", "2030-02-30"], "not a date: '2030-02-30'"),
        (_same_version, [], "is not newer than the current version"),
        (_lower_version, [], "is not newer than the current version"),
        (_empty_unreleased, [], "'## Unreleased' section is empty"),
        (_version_already_in_changelog, [], "already has a section for"),
        (_versions_disagree, [], "the versions disagree"),
    ],
    ids=[
        "two-parts",
        "v-prefix",
        "bad-date",
        "same",
        "lower",
        "empty-notes",
        "in-changelog",
        "disagree",
    ],
)
def test_release_refuses_and_writes_nothing(
    tmp_path: Path, prepare: object, args: list[str], message: str
) -> None:
    root = copy_tree(tmp_path)
    if callable(prepare):
        args = [prepare(root), *args]
    before = snapshot(root)
    proc = run_release(root, *args)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert message in proc.stderr
    assert proc.stderr.startswith("release: error: ")
    assert snapshot(root) == before
