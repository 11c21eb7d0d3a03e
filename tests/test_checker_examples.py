"""The checker against this project's own corpus: every detectable wrong pattern of
examples/errors/ is flagged by the rule tests/checker/error_patterns.toml names, inside its
``wrong_*`` function; nothing else in examples/ is flagged at all.

The list of wrong patterns is read from the tree at test time, so a new ``wrong_*`` function
fails ``test_every_wrong_pattern_is_classified`` until someone decides which rule must catch it
(or writes down why source code cannot show it).
"""

from __future__ import annotations

import ast
import functools
import tomllib
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import check_async_sqlalchemy as checker
import pytest

from tools.snippets import ROOT

EXAMPLES = ROOT / "examples"
ERRORS = EXAMPLES / "errors"
PATTERNS = ROOT / "tests" / "checker" / "error_patterns.toml"


@dataclass(frozen=True)
class Expected:
    rules: frozenset[str]
    at: str  # qualified name the findings point into, relative to the module


def _classification() -> tuple[dict[str, Expected], dict[str, str]]:
    data = tomllib.loads(PATTERNS.read_text())
    expected = {
        key: Expected(frozenset(rules), key.split(".", 1)[1])
        for key, rules in data.get("detected", {}).items()
    }
    for key, entry in data.get("detected_at", {}).items():
        expected[key] = Expected(frozenset(entry["rules"]), entry["at"])
    return expected, dict(data.get("not_detectable", {}))


def wrong_patterns() -> list[str]:
    """``family.wrong_name`` for every module-level wrong_* function in examples/errors."""
    found = []
    for path in sorted(ERRORS.glob("*.py")):
        tree = ast.parse(path.read_text())
        for node in tree.body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith(
                "wrong_"
            ):
                found.append(f"{path.stem}.{node.name}")
    return found


def qualified_name(tree: ast.Module, line: int, col: int) -> str:
    """The innermost function/class around (line, col), as ``outer.inner``; "" at module level."""
    best: list[str] = []

    def visit(node: ast.AST, names: list[str]) -> None:
        nonlocal best
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                start = (child.lineno, child.col_offset)
                stop = (child.end_lineno or child.lineno, child.end_col_offset or 0)
                if start <= (line, col - 1) <= stop:
                    best = [*names, child.name]
                    visit(child, best)
                    return
            visit(child, names)

    visit(tree, [])
    return ".".join(best)


@functools.cache
def findings_by_place() -> dict[tuple[str, str], set[str]]:
    """(module path relative to examples/errors or examples/, qualified name) -> rule codes."""
    findings, errors = checker.check_paths([str(EXAMPLES)])
    assert not errors, errors
    trees: dict[str, ast.Module] = {}
    places: dict[tuple[str, str], set[str]] = defaultdict(set)
    for finding in findings:
        path = Path(finding.path).resolve()
        tree = trees.setdefault(finding.path, ast.parse(path.read_text()))
        where = qualified_name(tree, finding.line, finding.col)
        module = (
            path.relative_to(ERRORS).with_suffix("").as_posix()
            if path.parent == ERRORS
            else ("examples/" + path.relative_to(EXAMPLES).as_posix())
        )
        places[(module, where)].add(f"{finding.code} at line {finding.line}")
    return dict(places)


def found_in(module: str, at: str) -> set[str]:
    """Findings in ``at`` or in a function nested inside it."""
    found: set[str] = set()
    for (place_module, where), codes in findings_by_place().items():
        if place_module == module and (where == at or where.startswith(at + ".")):
            found |= codes
    return found


def test_every_wrong_pattern_is_classified() -> None:
    expected, not_detectable = _classification()
    patterns = set(wrong_patterns())
    assert patterns, "no wrong_* functions found in examples/errors"
    unclassified = sorted(patterns - expected.keys() - not_detectable.keys())
    assert not unclassified, (
        f"new wrong patterns: say in {PATTERNS.relative_to(ROOT)} which rule must flag each, "
        f"or why source code cannot show it: {unclassified}"
    )
    both = sorted(expected.keys() & not_detectable.keys())
    assert not both, f"listed as detected and as not detectable: {both}"
    stale = sorted((expected.keys() | not_detectable.keys()) - patterns)
    assert not stale, f"{PATTERNS.relative_to(ROOT)} lists patterns that no longer exist: {stale}"
    for key, reason in not_detectable.items():
        assert len(reason) > 20, f"{key}: give a real reason"
    for key, entry in expected.items():
        unknown = sorted(entry.rules - checker.RULES.keys())
        assert not unknown, f"{key}: unknown rules {unknown}"


def _detected() -> list[str]:
    return sorted(_classification()[0])


@pytest.mark.parametrize("pattern", _detected())
def test_detectable_wrong_pattern_is_flagged_by_its_rule_inside_it(pattern: str) -> None:
    entry = _classification()[0][pattern]
    family = pattern.split(".", 1)[0]
    found = found_in(family, entry.at)
    codes = {item.split()[0] for item in found}
    assert codes == entry.rules, (
        f"{pattern}: expected {sorted(entry.rules)} in {entry.at}, got {found}"
    )


def test_no_finding_outside_the_wrong_patterns() -> None:
    """Fixed patterns, helpers and every other module of examples/: zero findings."""
    expected, _ = _classification()
    allowed = {(key.split(".", 1)[0], entry.at) for key, entry in expected.items()}
    stray = {
        (module, where): codes
        for (module, where), codes in findings_by_place().items()
        if not any(
            module == allowed_module and (where == at or where.startswith(at + "."))
            for allowed_module, at in allowed
        )
    }
    assert not stray, f"findings outside the wrong_* patterns: {stray}"


def test_recall_on_the_detectable_patterns_is_complete() -> None:
    """The figure the issue asks for: detected / detectable, and how many are not detectable."""
    expected, not_detectable = _classification()
    hit = [
        key
        for key, entry in expected.items()
        if {c.split()[0] for c in found_in(key.split(".", 1)[0], entry.at)} >= entry.rules
    ]
    total = len(expected) + len(not_detectable)
    print(
        f"\nrecall {len(hit)}/{len(expected)} detectable wrong patterns "
        f"({len(not_detectable)} of {total} not detectable statically)"
    )
    assert len(hit) == len(expected)


def test_report_states_the_recall() -> None:
    expected, not_detectable = _classification()
    total = len(expected) + len(not_detectable)
    report = (ROOT / "tests" / "checker" / "README.md").read_text()
    stated = (
        f"Recall: **{len(expected)} of {len(expected)}** detectable wrong patterns "
        f"({len(not_detectable)} of the {total} are not detectable statically)"
    )
    assert stated in " ".join(report.split()), f"tests/checker/README.md should say: {stated}"
