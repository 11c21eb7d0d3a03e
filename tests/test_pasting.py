"""Copying the skill's code by hand, as an assistant or a developer does.

SKILL.md's python fences, pasted one after another into one module, must define every name they
use and must not import from this repository (``examples.*`` does not exist in a user's
project). Each reference's fences, pasted after SKILL.md's, must define every name they use too;
a reference may import a name from ``examples.*`` only when a fence of the skill shows its code:
SKILL.md, an earlier fence of that reference, or another reference (the import then stands for
the user's own module, e.g. env.py's ``from examples.models import Base``).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from tools.snippets import ROOT, Fence, read_fences

BIN = Path(sys.executable).parent
REFERENCES = sorted(p.name for p in (ROOT / "references").glob("*.md"))


def undefined_names(program: str, tmp_path: Path) -> str:
    """ruff's report of undefined names (F821-F823) in ``program``; empty when there are none."""
    module = tmp_path / "pasted.py"
    module.write_text(program)
    result = subprocess.run(
        [
            str(BIN / "ruff"),
            "check",
            "--isolated",
            "--select",
            "F821,F822,F823",
            "--target-version",
            "py311",
            "--output-format",
            "concise",
            str(module),
        ],
        capture_output=True,
        text=True,
    )
    return "" if result.returncode == 0 else result.stdout + result.stderr


def defined_names(fence: Fence) -> set[str]:
    """Top-level names a fence defines: functions, classes, assignments, imports."""
    names: set[str] = set()
    for node in ast.parse(fence.body).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                names.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
        elif isinstance(node, ast.Import | ast.ImportFrom):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("examples"):
                continue  # restates a name; does not show its code
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
    return names


def imports_from_examples(fence: Fence) -> list[tuple[int, str]]:
    """(line in the document, name) of every name a fence imports from examples.*."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(fence.body)):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("examples"):
            found += [(fence.line + node.lineno, a.asname or a.name) for a in node.names]
        elif isinstance(node, ast.Import):
            found += [
                (fence.line + node.lineno, a.name)
                for a in node.names
                if a.name.startswith("examples")
            ]
    return found


def program(fences: list[Fence]) -> str:
    return "\n\n".join(fence.body for fence in fences) + "\n"


SKILL_FENCES = read_fences(ROOT / "SKILL.md")


def test_skill_md_fences_in_order_leave_no_undefined_name(tmp_path: Path) -> None:
    report = undefined_names(program(SKILL_FENCES), tmp_path)
    assert not report, report


def test_skill_md_imports_nothing_from_this_repository() -> None:
    found = [
        f"SKILL.md:{line} imports {name}"
        for fence in SKILL_FENCES
        for line, name in imports_from_examples(fence)
    ]
    assert not found, "\n".join(found)


@pytest.mark.parametrize("name", REFERENCES)
def test_reference_fences_after_skill_md_leave_no_undefined_name(name: str, tmp_path: Path) -> None:
    fences = read_fences(ROOT / "references" / name)
    report = undefined_names(program([*SKILL_FENCES, *fences]), tmp_path)
    assert not report, f"references/{name}, pasted after SKILL.md:\n{report}"


def shown_in_references() -> dict[str, str]:
    """Every name a reference fence defines, and the first reference that shows it."""
    shown: dict[str, str] = {}
    for name in REFERENCES:
        for fence in read_fences(ROOT / "references" / name):
            for defined in defined_names(fence):
                shown.setdefault(defined, name)
    return shown


@pytest.mark.parametrize("name", REFERENCES)
def test_reference_imports_only_code_the_reader_was_shown(name: str) -> None:
    shown: set[str] = set().union(*(defined_names(f) for f in SKILL_FENCES))
    elsewhere = shown_in_references()
    unshown: list[str] = []
    for fence in read_fences(ROOT / "references" / name):
        unshown += [
            f"references/{name}:{line} imports {imported} from examples, and no fence of the "
            "skill shows it"
            for line, imported in imports_from_examples(fence)
            if imported not in shown and imported not in elsewhere
        ]
        shown |= defined_names(fence)
    assert not unshown, "\n".join(unshown)
