"""The skill as an assistant loads it: valid Agent Skills metadata, within budget, copyable."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tools.snippets import ROOT

SKILL_NAME = "sqlalchemy-async"
BIN = Path(sys.executable).parent


def _installed(tmp_path: Path) -> Path:
    subprocess.run(
        ["bash", str(ROOT / "install.sh"), "--dest", str(tmp_path)],
        check=True,
        capture_output=True,
        text=True,
    )
    return tmp_path / SKILL_NAME


def _properties(skill_dir: Path) -> dict[str, str]:
    out = subprocess.run(
        [str(BIN / "agentskills"), "read-properties", str(skill_dir)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    properties: dict[str, str] = json.loads(out)
    return properties


def test_installed_skill_passes_the_reference_validator(tmp_path: Path) -> None:
    skill_dir = _installed(tmp_path)
    result = subprocess.run(
        [str(BIN / "agentskills"), "validate", str(skill_dir)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert _properties(skill_dir)["name"] == skill_dir.name == SKILL_NAME


def test_front_matter_uses_only_spec_fields() -> None:
    front = (ROOT / "SKILL.md").read_text().split("---\n")[1]
    keys = {line.split(":")[0] for line in front.splitlines() if line and not line[0].isspace()}
    allowed = {"name", "description", "license", "compatibility", "metadata", "allowed-tools"}
    assert keys <= allowed, keys - allowed


def test_description_says_what_and_when_in_third_person() -> None:
    description = _properties(ROOT)["description"]
    assert 1 <= len(description) <= 1024
    assert "<" not in description
    assert ">" not in description
    assert "Use when" in description
    assert not re.search(r"\b(I|you|your|we|our)\b", description, re.IGNORECASE)
    assert description.split()[0].endswith("s"), "third person: 'Writes ...', not 'Write ...'"
    for word in (
        "AsyncSession",
        "async_sessionmaker",
        "create_async_engine",
        "MissingGreenlet",
        "selectinload",
        "asyncpg",
        "aiosqlite",
        "aiomysql",
        "Alembic",
        "FastAPI",
    ):
        assert word in description


def test_skill_md_within_budget() -> None:
    text = (ROOT / "SKILL.md").read_text()
    assert len(text.splitlines()) <= 500
    assert len(text) / 4 <= 5000, f"about {len(text) // 4} tokens"


def test_every_reference_is_named_from_skill_md_and_long_ones_have_contents() -> None:
    skill = (ROOT / "SKILL.md").read_text()
    for reference in sorted((ROOT / "references").glob("*.md")):
        assert f"references/{reference.name}" in skill, f"{reference.name} not named in SKILL.md"
        text = reference.read_text()
        if len(text.splitlines()) > 300:
            assert "## Contents" in text, f"{reference.name} is over 300 lines: add ## Contents"


@pytest.mark.parametrize("path", sorted(p.name for p in (ROOT / "references").glob("*.md")))
def test_reference_is_one_level_deep(path: str) -> None:
    for link in re.findall(r"\]\(([^)]+)\)", (ROOT / "references" / path).read_text()):
        assert not link.startswith("references/"), f"{path} links {link}: keep references flat"
