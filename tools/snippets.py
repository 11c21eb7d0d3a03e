"""Code lives once, in examples/; the markdown embeds regions of it.

In an example module a region is marked with comment lines::

    # region: create_user
    ...code...
    # endregion: create_user

In SKILL.md or references/*.md, a python fence is tied to a region by the comment line
right above it::

    <!-- snippet: examples/crud.py#create_user -->
    ```python
    ...exact region text...
    ```

``python -m tools.snippets --write`` rewrites every tied fence from its region;
``python -m tools.snippets`` (or the test in tests/test_snippets.py) reports any fence that
differs from its region, names a missing region, or has no region at all.
"""

from __future__ import annotations

import argparse
import difflib
import re
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REGION_START = re.compile(r"^\s*# region: (?P<name>[\w-]+)\s*$")
REGION_END = re.compile(r"^\s*# endregion: (?P<name>[\w-]+)\s*$")
SNIPPET_MARK = re.compile(r"^<!-- snippet: (?P<path>[\w/.-]+\.py)#(?P<region>[\w-]+) -->\s*$")
FENCE_OPEN = re.compile(r"^```python\s*$")
FENCE_CLOSE = "```"


class SnippetError(Exception):
    pass


def read_regions(path: Path) -> dict[str, str]:
    """All regions of one module, dedented, with nested region markers removed."""
    lines = path.read_text().splitlines()
    open_regions: dict[str, list[str]] = {}
    done: dict[str, str] = {}
    for number, line in enumerate(lines, 1):
        if start := REGION_START.match(line):
            name = start["name"]
            if name in open_regions or name in done:
                raise SnippetError(f"{path}:{number}: region {name!r} defined twice")
            open_regions[name] = []
        elif end := REGION_END.match(line):
            name = end["name"]
            if name not in open_regions:
                raise SnippetError(f"{path}:{number}: endregion {name!r} without its region")
            done[name] = textwrap.dedent("\n".join(open_regions.pop(name))).strip("\n")
        else:
            for body in open_regions.values():
                body.append(line)
    if open_regions:
        raise SnippetError(f"{path}: region(s) never closed: {', '.join(open_regions)}")
    return done


@dataclass
class Fence:
    doc: Path
    line: int  # 1-based line of the ```python opener
    source: str | None  # "examples/x.py#region", or None when the fence is not tied
    body: str
    body_span: tuple[int, int]  # 0-based [start, end) of the body lines in the doc


def read_fences(doc: Path) -> list[Fence]:
    lines = doc.read_text().splitlines()
    fences: list[Fence] = []
    index = 0
    while index < len(lines):
        if FENCE_OPEN.match(lines[index]):
            mark = SNIPPET_MARK.match(lines[index - 1]) if index else None
            end = index + 1
            while end < len(lines) and lines[end].strip() != FENCE_CLOSE:
                end += 1
            source = f"{mark['path']}#{mark['region']}" if mark else None
            fences.append(
                Fence(doc, index + 1, source, "\n".join(lines[index + 1 : end]), (index + 1, end))
            )
            index = end
        index += 1
    return fences


def documents(root: Path = ROOT) -> list[Path]:
    docs = [root / "SKILL.md", *sorted((root / "references").glob("*.md"))]
    return [doc for doc in docs if doc.exists()]


def region_text(root: Path, source: str, cache: dict[Path, dict[str, str]]) -> str:
    path_text, region = source.split("#")
    path = root / path_text
    if not path.exists():
        raise SnippetError(f"{path_text} does not exist")
    if path not in cache:
        cache[path] = read_regions(path)
    if region not in cache[path]:
        raise SnippetError(f"{path_text} has no region {region!r}")
    return cache[path][region]


def check(root: Path = ROOT) -> list[str]:
    """Every problem found, one message each, naming the document line and the region."""
    problems: list[str] = []
    cache: dict[Path, dict[str, str]] = {}
    for doc in documents(root):
        for fence in read_fences(doc):
            where = f"{doc.relative_to(root)}:{fence.line}"
            if fence.source is None:
                problems.append(
                    f"{where}: python fence has no region; put it in examples/ and mark it with "
                    "'<!-- snippet: examples/MODULE.py#REGION -->' on the line above"
                )
                continue
            try:
                expected = region_text(root, fence.source, cache)
            except SnippetError as exc:
                problems.append(f"{where}: {exc}")
                continue
            if fence.body != expected:
                diff = "\n".join(
                    difflib.unified_diff(
                        expected.splitlines(),
                        fence.body.splitlines(),
                        f"{fence.source} (region)",
                        f"{where} (fence)",
                        lineterm="",
                        n=1,
                    )
                )
                problems.append(
                    f"{where}: fence differs from region {fence.source}; "
                    f"run 'python -m tools.snippets --write'\n{diff}"
                )
    return problems


def write(root: Path = ROOT) -> list[Path]:
    """Rewrite every tied fence from its region; returns the documents changed."""
    changed: list[Path] = []
    cache: dict[Path, dict[str, str]] = {}
    for doc in documents(root):
        lines = doc.read_text().splitlines()
        # Replace from the bottom so earlier spans stay valid.
        for fence in reversed(read_fences(doc)):
            if fence.source is None:
                continue
            start, end = fence.body_span
            lines[start:end] = region_text(root, fence.source, cache).splitlines()
        new = "\n".join(lines) + "\n"
        if new != doc.read_text():
            doc.write_text(new)
            changed.append(doc)
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--write", action="store_true", help="rewrite fences from their regions")
    args = parser.parse_args(argv)
    if args.write:
        for doc in write():
            print(f"rewrote {doc.relative_to(ROOT)}")
    problems = check()
    for problem in problems:
        print(problem, file=sys.stderr)
    if not problems:
        fences = sum(len(read_fences(doc)) for doc in documents())
        print(f"{fences} python fences, all mirrored from examples/")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
