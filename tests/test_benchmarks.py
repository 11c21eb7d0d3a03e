"""The benchmarks are registered, their CLI guards its options, and references/performance.md holds
every table with the command that produced it. (CI runs ``python -m benchmarks --quick`` itself:
the measurements are too slow for the test suite.)"""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import registry
from benchmarks.__main__ import main
from benchmarks.report import PERFORMANCE_MD, MarkerMissing, end_marker, start_marker, write_blocks
from tools.databases import BACKENDS
from tools.snippets import ROOT, read_fences

NAMES = [
    "bulk_insert",
    "upsert",
    "loading",
    "streaming",
    "pagination",
    "pools",
    "external_io",
]


def test_registry_lists_every_benchmark_in_order() -> None:
    benchmarks = registry()
    assert list(benchmarks) == NAMES
    for name, benchmark in benchmarks.items():
        assert benchmark.name == name
        assert benchmark.lanes
        assert set(benchmark.lanes) <= set(BACKENDS)
        assert "postgresql" in benchmark.lanes  # the default lane runs every benchmark


def _block(text: str, name: str) -> str:
    match = re.search(
        re.escape(start_marker(name)) + r"\n(.*?)\n" + re.escape(end_marker(name)), text, re.DOTALL
    )
    assert match, f"performance.md has no block for {name}"
    return match.group(1)


@pytest.mark.parametrize("name", NAMES)
def test_performance_md_has_the_measured_table_and_its_command(name: str) -> None:
    block = _block(PERFORMANCE_MD.read_text(), name)
    command = re.search(r"Measured (\d{4}-\d{2}-\d{2}) with `(python -m benchmarks[^`]*)`", block)
    assert command, f"{name}: no 'Measured DATE with `python -m benchmarks ...`' line"
    assert "--quick" not in command.group(2), f"{name}: quick-mode numbers were published"
    assert "--write" in command.group(2)
    assert re.search(r"^\| .+ \|\n\| --- \|", block, re.MULTILINE), f"{name}: no table"
    assert "**PostgreSQL " in block, f"{name}: no PostgreSQL table"
    assert "DOES NOT HOLD" not in block, f"{name}: a claim failed in the published run"


def test_performance_md_says_how_to_reproduce_every_benchmark() -> None:
    text = PERFORMANCE_MD.read_text()
    for name in NAMES:
        assert f"python -m benchmarks {name}" in text, f"no reproduce command for {name}"


def test_performance_md_fences_in_order_leave_no_undefined_name(tmp_path: Path) -> None:
    """Like SKILL.md: copying the document's snippets in order gives code with every name."""
    fences = read_fences(PERFORMANCE_MD)
    assert fences
    program = tmp_path / "performance_fences.py"
    program.write_text("\n\n".join(fence.body for fence in fences) + "\n")
    ruff = Path(sys.executable).parent / "ruff"
    result = subprocess.run(
        [str(ruff), "check", "--isolated", "--select", "F821,F822,F823", str(program)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_write_replaces_only_the_named_block(tmp_path: Path) -> None:
    doc = tmp_path / "performance.md"
    doc.write_text(
        "# prose\n\n<!-- benchmark: a -->\nold a\n<!-- /benchmark: a -->\n\nmiddle prose\n\n"
        "<!-- benchmark: b -->\nold b\n<!-- /benchmark: b -->\nend\n"
    )
    write_blocks({"b": "new b\n\n| x |\n| --- |"}, doc)
    assert doc.read_text() == (
        "# prose\n\n<!-- benchmark: a -->\nold a\n<!-- /benchmark: a -->\n\nmiddle prose\n\n"
        "<!-- benchmark: b -->\nnew b\n\n| x |\n| --- |\n<!-- /benchmark: b -->\nend\n"
    )


def test_write_refuses_a_missing_block_and_writes_nothing(tmp_path: Path) -> None:
    doc = tmp_path / "performance.md"
    doc.write_text("<!-- benchmark: a -->\nold\n<!-- /benchmark: a -->\n")
    with pytest.raises(MarkerMissing, match=r"performance\.md has no block for 'zzz'"):
        write_blocks({"a": "new", "zzz": "x"}, doc)
    assert doc.read_text() == "<!-- benchmark: a -->\nold\n<!-- /benchmark: a -->\n"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--quick", "--write"], "--quick never writes references/performance.md"),
        (["nope"], "unknown benchmark(s) nope; choose from bulk_insert, upsert"),
        (["--lanes", "oracle"], "--lanes: choose from sqlite,postgresql,mysql"),
    ],
)
def test_cli_rejects_bad_arguments_before_running_anything(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    assert message in capsys.readouterr().err
