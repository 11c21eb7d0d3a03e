"""Release: one command sets the new version everywhere a person or a client reads it.

    python -m tools.release 0.2.0                      # bump every file, date the changelog
    python -m tools.release 0.2.0 --date 2026-12-24    # another release date (default: today, UTC)
    python -m tools.release --check                    # print the versions; exit 1 if they differ

The version lives in four files, each read by someone else: pyproject.toml (install.sh records
it in its manifest), .claude-plugin/plugin.json (Claude Code offers an update only when it
changes), the marketplace's entry for the plugin, and SKILL.md's ``metadata.version`` (what an
assistant or a person sees in an installed copy). CHANGELOG.md's "## Unreleased" section
becomes "## VERSION - DATE" under a fresh, empty Unreleased heading.

Every check runs before anything is written: a bad version, versions that already disagree, an
empty Unreleased section or a version that is already in the changelog change nothing.
Only the standard library is used, so any Python >= 3.11 runs it.
"""

from __future__ import annotations

import argparse
import datetime
import json
import re
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PLUGIN_NAME = "sqlalchemy-async"
PYPROJECT = "pyproject.toml"
PLUGIN_JSON = ".claude-plugin/plugin.json"
MARKETPLACE_JSON = ".claude-plugin/marketplace.json"
SKILL_MD = "SKILL.md"
CHANGELOG = "CHANGELOG.md"
UNRELEASED = "## Unreleased"
VERSION_RE = re.compile(r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)")


class ReleaseError(Exception):
    """Why the release cannot be made; nothing has been written."""


# ------------------------------------------------------------------------ JSON manifests


def dump_json(data: Any) -> str:
    """The one layout of the JSON manifests, so a release changes only the version lines."""
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def _marketplace_entry(data: Any) -> dict[str, Any]:
    entries = [p for p in data.get("plugins", []) if p.get("name") == PLUGIN_NAME]
    if len(entries) != 1:
        raise ReleaseError(f"{MARKETPLACE_JSON} must list the plugin {PLUGIN_NAME!r} exactly once")
    entry: dict[str, Any] = entries[0]
    return entry


# --------------------------------------------------------------------- SKILL.md metadata


def _front_matter_bounds(lines: list[str]) -> tuple[int, int]:
    if not lines or lines[0].rstrip() != "---":
        raise ReleaseError(f"{SKILL_MD} does not start with front matter (---)")
    for end in range(1, len(lines)):
        if lines[end].rstrip() == "---":
            return 1, end
    raise ReleaseError(f"{SKILL_MD}: the front matter has no closing ---")


def _skill_version_line(lines: list[str]) -> int:
    """Index of the ``version:`` line inside the front matter's ``metadata:`` map."""
    start, end = _front_matter_bounds(lines)
    in_metadata = False
    for index in range(start, end):
        line = lines[index]
        if not line.startswith((" ", "\t")):
            in_metadata = line.rstrip() == "metadata:"
        elif in_metadata and re.match(r"\s+version:", line):
            return index
    raise ReleaseError(f'{SKILL_MD}: the front matter has no metadata: {{version: "..."}}')


def _skill_version(text: str) -> str:
    lines = text.splitlines(keepends=True)
    value = lines[_skill_version_line(lines)].split(":", 1)[1].strip()
    return value.strip("\"'")


def _set_skill_version(text: str, version: str) -> str:
    lines = text.splitlines(keepends=True)
    index = _skill_version_line(lines)
    indent = lines[index][: len(lines[index]) - len(lines[index].lstrip())]
    lines[index] = f'{indent}version: "{version}"\n'
    return "".join(lines)


# ------------------------------------------------------------------------ pyproject.toml


def _set_pyproject_version(text: str, version: str) -> str:
    """Rewrite the version line of [project] only, keeping the rest byte for byte."""
    lines = text.splitlines(keepends=True)
    section = ""
    for index, line in enumerate(lines):
        if line.startswith("["):
            section = line.strip()
        elif section == "[project]" and re.match(r"version\s*=", line):
            lines[index] = f'version = "{version}"\n'
            return "".join(lines)
    raise ReleaseError(f"{PYPROJECT} has no version in [project]")


# ---------------------------------------------------------------------------- the files


def versions(root: Path = ROOT) -> dict[str, str]:
    """The version each file declares, keyed by the file (and field) it comes from."""
    plugin = json.loads((root / PLUGIN_JSON).read_text())
    marketplace = json.loads((root / MARKETPLACE_JSON).read_text())
    return {
        PYPROJECT: str(tomllib.loads((root / PYPROJECT).read_text())["project"]["version"]),
        PLUGIN_JSON: str(plugin.get("version")),
        f"{MARKETPLACE_JSON} (plugins[{PLUGIN_NAME}])": str(
            _marketplace_entry(marketplace).get("version")
        ),
        f"{SKILL_MD} (metadata.version)": _skill_version((root / SKILL_MD).read_text()),
    }


def current_version(root: Path = ROOT) -> str:
    found = versions(root)
    if len(set(found.values())) != 1:
        listed = "\n".join(f"  {where}: {version}" for where, version in found.items())
        raise ReleaseError(f"the versions disagree; make them agree by hand first:\n{listed}")
    return next(iter(found.values()))


def _parse(version: str) -> tuple[int, int, int]:
    match = VERSION_RE.fullmatch(version)
    if match is None:
        raise ReleaseError(f"not a version: {version!r} (expected MAJOR.MINOR.PATCH, e.g. 0.2.0)")
    major, minor, patch = (int(part) for part in match.groups())
    return major, minor, patch


def _dated_changelog(text: str, version: str, date: str) -> str:
    lines = text.splitlines(keepends=True)
    headings = [i for i, line in enumerate(lines) if line.startswith("## ")]
    unreleased = [i for i in headings if lines[i].rstrip() == UNRELEASED]
    if len(unreleased) != 1:
        raise ReleaseError(f"{CHANGELOG} needs exactly one {UNRELEASED!r} heading")
    for i in headings:
        if re.match(rf"## {re.escape(version)}\b", lines[i]):
            raise ReleaseError(f"{CHANGELOG} already has a section for {version}")
    start = unreleased[0]
    following = [i for i in headings if i > start]
    body = lines[start + 1 : following[0] if following else len(lines)]
    if not any(line.strip() and not line.lstrip().startswith("<!--") for line in body):
        raise ReleaseError(
            f"{CHANGELOG}'s {UNRELEASED!r} section is empty: say what changed in {version} first"
        )
    lines[start] = f"{UNRELEASED}\n\n## {version} - {date}\n"
    return "".join(lines)


def release(version: str, date: str, root: Path = ROOT) -> list[str]:
    """Set version in every file and date the changelog; returns the files written."""
    new = _parse(version)
    old_version = current_version(root)
    if new <= _parse(old_version):
        raise ReleaseError(f"{version} is not newer than the current version {old_version}")
    try:
        datetime.date.fromisoformat(date)
    except ValueError:
        raise ReleaseError(f"not a date: {date!r} (expected YYYY-MM-DD)") from None

    def set_json(path: str, entry: Callable[[Any], dict[str, Any]]) -> str:
        data = json.loads((root / path).read_text())
        entry(data)["version"] = version
        return dump_json(data)

    # Everything is computed (and so checked) before the first file is written.
    updated = {
        PYPROJECT: _set_pyproject_version((root / PYPROJECT).read_text(), version),
        PLUGIN_JSON: set_json(PLUGIN_JSON, lambda data: data),
        MARKETPLACE_JSON: set_json(MARKETPLACE_JSON, _marketplace_entry),
        SKILL_MD: _set_skill_version((root / SKILL_MD).read_text(), version),
        CHANGELOG: _dated_changelog((root / CHANGELOG).read_text(), version, date),
    }
    for path, text in updated.items():
        (root / path).write_text(text)
    if current_version(root) != version:  # every reader now agrees on the new version
        raise ReleaseError(f"internal error: after writing, the versions are {versions(root)}")
    return list(updated)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.release",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("version", nargs="?", help="the new version, MAJOR.MINOR.PATCH")
    group.add_argument("--check", action="store_true", help="print the versions and check them")
    parser.add_argument(
        "--date",
        default=datetime.datetime.now(datetime.UTC).date().isoformat(),
        help="release date for the changelog (default: today, UTC)",
    )
    args = parser.parse_args(argv)
    try:
        if args.check:
            for where, version in versions().items():
                print(f"{version:<10} {where}")
            print(f"all agree: {current_version()}")
            return 0
        written = release(args.version, args.date)
    except ReleaseError as exc:
        print(f"release: error: {exc}", file=sys.stderr)
        return 1
    print(f"Set version {args.version} in {', '.join(written[:-1])}; dated it in {written[-1]}.")
    print("Next: review `git diff`, run ./run-tests.sh, then")
    print(
        f'  git commit -am "Release {args.version}" && git tag v{args.version}'
        f" && git push origin HEAD v{args.version}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
