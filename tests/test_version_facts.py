"""The version facts the skill states, checked against SQLAlchemy's own releases: the metadata of
the installed package, and the changelog shipped in the 2.0.59 sdist (downloaded once, sha256
pinned, by tools/sdists.py). Each 2.0 changelog entry names the 2.1 release with the same fix.
"""

from __future__ import annotations

import functools
import importlib.metadata
import re
import tomllib

import pytest
from packaging.requirements import Requirement

from tools import versions
from tools.sdists import Package, fetch
from tools.snippets import ROOT

SQLALCHEMY_2_0_59 = Package(
    "sqlalchemy", "2.0.59", "9dd42e979a9ca2a71cf827b9bda61a8322ab4e3be28ec68a6166a9c839064784"
)

# The asyncio cancellation fixes behind the recommended floor, and the two behaviour changes
# tools/versions.py tracks: ticket -> (2.0 release, 2.1 release), as the skill states them.
FIXES = {
    "12710": ("2.0.55", "2.1.2"),  # a cancelled close() finishing in the background
    "13673": ("2.0.55", "2.1.5"),  # a closed connection left in the pool
    "13699": ("2.0.56", "2.1.6"),  # regression of 12710
    "13749": ("2.0.56", "2.1.7"),  # a lost cancellation on Python 3.11
    "13636": ("2.0.59", "2.1.10"),  # asyncpg errors raise the PEP 249 class of their SQLSTATE
    "13831": ("2.0.59", "2.1.10"),  # aiosqlite closes a cancelled statement's cursor
}
CANCELLATION_FIXES = ("12710", "13673", "13699", "13749")


@functools.cache
def changelog() -> dict[str, tuple[str, str]]:
    """ticket -> (2.0 release, 2.1 release) for every asyncio/driver entry of the changelog."""
    text = (fetch(SQLALCHEMY_2_0_59) / "doc/build/changelog/changelog_20.rst").read_text()
    found: dict[str, tuple[str, str]] = {}
    for release in re.split(r"^\.\. changelog::\n", text, flags=re.M)[1:]:
        version = re.search(r":version: (\S+)", release)
        assert version is not None
        for change in re.split(r"^    \.\. change::\n", release, flags=re.M)[1:]:
            tickets = re.search(r":tickets: ([\d, ]+)", change)
            on_21 = re.search(r":versions: (\S+)", change)
            if tickets and on_21:
                for ticket in tickets.group(1).replace(" ", "").split(","):
                    found.setdefault(ticket, (version.group(1), on_21.group(1)))
    return found


@pytest.mark.parametrize(("ticket", "releases"), FIXES.items())
def test_each_fix_landed_in_the_releases_the_skill_names(
    ticket: str, releases: tuple[str, str]
) -> None:
    assert changelog()[ticket] == releases


def test_the_recommended_floor_is_the_first_release_with_every_cancellation_fix() -> None:
    on_20 = max((changelog()[t][0] for t in CANCELLATION_FIXES), key=versions.release)
    on_21 = max((changelog()[t][1] for t in CANCELLATION_FIXES), key=versions.release)
    assert (on_20, on_21) == ("2.0.56", "2.1.7")
    # pyproject.toml's dependency admits exactly those releases and later ones.
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    (line,) = [d for d in project["dependencies"] if d.startswith("sqlalchemy")]
    allowed = Requirement(line).specifier
    assert "2.0.56" in allowed
    assert "2.0.55" not in allowed
    assert "2.1.7" in allowed
    assert not any(f"2.1.{patch}" in allowed for patch in range(7))


def test_tools_versions_switch_at_the_releases_of_their_fixes() -> None:
    for constant, ticket in (
        ("ASYNCPG_ERRORS_BY_SQLSTATE", "13636"),
        ("AIOSQLITE_CLOSES_CANCELLED_CURSOR", "13831"),
    ):
        on_20, on_21 = changelog()[ticket]
        assert getattr(versions, constant) == versions.at_least(on_20, on_21), constant


def test_python_and_greenlet_requirements_of_the_installed_line() -> None:
    metadata = importlib.metadata.metadata("sqlalchemy")
    greenlet = [Requirement(r) for r in metadata.get_all("Requires-Dist") or []]
    greenlet = [r for r in greenlet if r.name == "greenlet"]
    unconditional = [r for r in greenlet if r.marker is None or "extra" not in str(r.marker)]
    if versions.SA21:
        assert metadata["Requires-Python"] == ">=3.11"
        assert unconditional == []  # 2.1: greenlet only with an extra such as [asyncio]
    else:
        assert unconditional, "2.0 installs greenlet by default on common platforms"
        assert any(r.marker and r.marker.evaluate() for r in unconditional)
    assert any(r.marker and r.marker.evaluate({"extra": "asyncio"}) for r in greenlet)
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["requires-python"] == ">=3.11"
