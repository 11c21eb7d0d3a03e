"""The claims ledger: which test or benchmark proves each sentence of the skill that states a
behaviour, a number or a version.

Code is mirrored from examples/ and run; prose is not. tests/claims/*.toml list, per document,
a distinctive piece of each claim's text and the proofs (``tests/test_x.py::test_name`` or
``benchmark:NAME``). tests/test_claims.py fails when a ledger text no longer appears in its
document, when a proof does not exist, or when a claim has no entry. Claims are:

* in SKILL.md: every sentence (of prose, list items and table rows) that contains a digit,
  "x faster", "raises", "commits", "never" or "always";
* in a reference: every list item and table row (its rules and tables) with the same words.

Text inside code fences, HTML comments and benchmark blocks (written by ``python -m benchmarks
--write`` from a measurement) is not prose and is skipped.

``python -m tools.claims`` lists the claims that have no entry yet.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LEDGER = ROOT / "tests" / "claims"  # one TOML file per document: skill.toml, errors.toml, ...
TRIGGER = re.compile(r"\d|x faster|\braises?\b|\bcommits?\b|\bnever\b|\balways\b", re.IGNORECASE)
_LIST_ITEM = re.compile(r"^(\s*)(?:[-*]|\d+\.)\s+")
_CODE_SPAN = re.compile(r"`[^`]*`")
# A sentence ends at ". " (or ": " before a capital) outside code spans, before a capital,
# a code span or bold text.
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z`*(])")


@dataclass(frozen=True)
class Unit:
    """One claim-sized piece of a document: a sentence, a list item or a table row."""

    doc: str
    line: int
    kind: str  # "sentence", "item" or "row"
    text: str


def normalize(text: str) -> str:
    return " ".join(text.split())


def _prose_lines(text: str) -> list[tuple[int, str]]:
    """Lines that are prose: no front matter, code fences, comments or benchmark blocks."""
    lines = text.splitlines()
    out: list[tuple[int, str]] = []
    skip_until: str | None = None
    start = 0
    if lines and lines[0] == "---":
        start = lines.index("---", 1) + 1
    for number, line in enumerate(lines[start:], start + 1):
        if skip_until is not None:
            if line.strip().startswith(skip_until):
                skip_until = None
            continue
        stripped = line.strip()
        if stripped.startswith("```"):
            skip_until = "```"
            continue
        if stripped.startswith("<!-- benchmark:"):
            skip_until = "<!-- /benchmark:"
            continue
        if stripped.startswith("<!--"):
            continue
        out.append((number, line))
    return out


def _blocks(text: str) -> list[tuple[int, str, str]]:
    """(first line, kind, text) of each paragraph, list item and table row."""
    blocks: list[tuple[int, str, str]] = []
    current: list[str] = []
    kind = ""
    first = 0

    def flush() -> None:
        nonlocal current
        if current:
            blocks.append((first, kind, normalize(" ".join(current))))
        current = []

    in_contents = False
    for number, line in _prose_lines(text):
        stripped = line.strip()
        if stripped.startswith("#"):
            in_contents = stripped.lower() == "## contents"  # a table of links, no claims
        if in_contents:
            continue
        if stripped.startswith("|"):
            flush()
            if re.fullmatch(r"\|[\s:|-]+\|", stripped):
                continue  # the separator row
            blocks.append((number, "row", stripped))
            continue
        if not stripped or stripped.startswith("#"):
            flush()
            continue
        item = _LIST_ITEM.match(line)
        if item:
            flush()
            first, kind, current = number, "item", [line[item.end() :]]
            continue
        if current:
            current.append(stripped)
        else:
            first, kind, current = number, "paragraph", [stripped]
    flush()
    return _drop_table_headers(blocks, text)


def _drop_table_headers(
    blocks: list[tuple[int, str, str]], text: str
) -> list[tuple[int, str, str]]:
    """A table's first row (its header) names columns; it claims nothing."""
    lines = text.splitlines()
    kept = []
    for number, kind, body in blocks:
        if kind == "row":
            following = lines[number] if number < len(lines) else ""
            if re.fullmatch(r"\|[\s:|-]+\|", following.strip()):
                continue
        kept.append((number, kind, body))
    return kept


def sentences(paragraph: str) -> list[str]:
    """Split prose at sentence ends that are not inside code spans."""
    # Keep the backticks (a sentence may start with one), hide what is between them.
    masked = _CODE_SPAN.sub(lambda m: "`" + "x" * (len(m.group()) - 2) + "`", paragraph)
    cuts = [m.start() for m in _SENTENCE_END.finditer(masked)]
    pieces, start = [], 0
    for cut in cuts:
        pieces.append(paragraph[start:cut].strip())
        start = cut
    pieces.append(paragraph[start:].strip())
    return [p for p in pieces if p]


def units(path: Path, rules_and_tables_only: bool) -> list[Unit]:
    """The claim units of a document that contain a trigger word."""
    doc = str(path.relative_to(ROOT))
    found: list[Unit] = []
    for line, kind, body in _blocks(path.read_text()):
        if kind == "row":
            pieces = [("row", body)]
        elif kind == "item":
            pieces = [("item", body)] if rules_and_tables_only else [
                ("sentence", s) for s in sentences(body)
            ]
        elif rules_and_tables_only:
            continue
        else:
            pieces = [("sentence", s) for s in sentences(body)]
        found += [Unit(doc, line, k, t) for k, t in pieces if TRIGGER.search(_without_links(t))]
    return found


def _without_links(text: str) -> str:
    """Markdown link targets and file names carry digits that claim nothing."""
    text = re.sub(r"\]\([^)]*\)", "]", text)
    return re.sub(r"\b[\w/.-]+\.(md|py|toml|sh)\b", "", text)


def documents() -> list[tuple[Path, bool]]:
    """(document, rules_and_tables_only) for SKILL.md and every reference."""
    return [(ROOT / "SKILL.md", False)] + [
        (path, True) for path in sorted((ROOT / "references").glob("*.md"))
    ]


@dataclass(frozen=True)
class Entry:
    doc: str
    text: str
    proof: tuple[str, ...]


def ledger(folder: Path = LEDGER) -> list[Entry]:
    entries: list[Entry] = []
    for path in sorted(folder.glob("*.toml")):
        data = tomllib.loads(path.read_text())
        entries += [
            Entry(item["doc"], normalize(item["text"]), tuple(item["proof"]))
            for item in data.get("claim", [])
        ]
    return entries


def uncovered(entries: list[Entry]) -> list[Unit]:
    """Claims no ledger entry's text falls inside."""
    by_doc: dict[str, list[str]] = {}
    for entry in entries:
        by_doc.setdefault(entry.doc, []).append(entry.text)
    missing: list[Unit] = []
    for path, rules_only in documents():
        for unit in units(path, rules_only):
            texts = by_doc.get(unit.doc, [])
            if not any(text in normalize(unit.text) for text in texts):
                missing.append(unit)
    return missing


def defined_tests(path: Path) -> set[str]:
    """``name`` and ``Class::name`` of every test function defined in a test module."""
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.ClassDef):
            names |= {
                f"{node.name}::{item.name}"
                for item in node.body
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef)
            }
    return names


def main() -> int:
    missing = uncovered(ledger())
    for unit in missing:
        print(f"{unit.doc}:{unit.line}: [{unit.kind}] {unit.text[:140]}")
    print(f"{len(missing)} claim(s) without a ledger entry", file=sys.stderr)
    return 1 if missing else 0


if __name__ == "__main__":
    raise SystemExit(main())
