"""Render results as markdown and write them into references/performance.md between markers.

Each benchmark owns one block of that file::

    <!-- benchmark: bulk_insert -->
    ...generated: command, date, machine, one table per lane, notes...
    <!-- /benchmark: bulk_insert -->

Everything outside the blocks is prose written by hand and is never touched.
"""

from __future__ import annotations

import re
from pathlib import Path

from benchmarks.harness import ROOT, LaneResult, markdown_table

PERFORMANCE_MD = ROOT / "references" / "performance.md"


class MarkerMissing(Exception):
    pass


def start_marker(name: str) -> str:
    return f"<!-- benchmark: {name} -->"


def end_marker(name: str) -> str:
    return f"<!-- /benchmark: {name} -->"


def render_block(
    command: str, date: str, machine: str, lanes: list[tuple[str, LaneResult]], note: str = ""
) -> str:
    """The generated markdown for one benchmark (without its markers)."""
    parts = [f"Measured {date} with `{command}` on {machine}."]
    if note:
        parts.append(note)
    for label, result in lanes:
        parts.append(f"**{label}**")
        parts.append(markdown_table(result.headers, result.rows))
        notes = [*result.notes]
        for check in result.checks:
            verdict = "holds" if check.ok else "DOES NOT HOLD in this run"
            notes.append(f"Check: {check.claim}: {verdict}.")
        if notes:
            parts.append("\n".join(f"- {line}" for line in notes))
    return "\n\n".join(parts)


def missing_blocks(names: list[str], path: Path = PERFORMANCE_MD) -> list[str]:
    """Names whose markers are not both in ``path`` (checked before a long run starts)."""
    text = path.read_text()
    return [n for n in names if start_marker(n) not in text or end_marker(n) not in text]


def write_blocks(blocks: dict[str, str], path: Path = PERFORMANCE_MD) -> None:
    """Replace each named block's content; fails, writing nothing, if a marker is missing."""
    text = path.read_text()
    for name, body in blocks.items():
        pattern = re.compile(
            re.escape(start_marker(name)) + r"\n.*?" + re.escape(end_marker(name)), re.DOTALL
        )
        match = pattern.search(text)
        if match is None:
            raise MarkerMissing(
                f"{path.name} has no block for {name!r}: add the lines "
                f"'{start_marker(name)}' and '{end_marker(name)}' where its table belongs"
            )
        replacement = f"{start_marker(name)}\n{body}\n{end_marker(name)}"
        text = text[: match.start()] + replacement + text[match.end() :]
    path.write_text(text)
