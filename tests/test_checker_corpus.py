"""The checker on code nobody here wrote: pinned sdists of real packages that use
sqlalchemy.ext.asyncio, with every finding reviewed by hand in tests/checker/corpus.toml.

The sdists are downloaded once with ``pip download`` (sha256 checked) into the cache of
tools/sdists.py (``$SQLA_SDIST_CACHE``, else ``~/.cache/sqlalchemy-async-skill/sdists``).
Later runs read the unpacked copies. The report with the figures is tests/checker/README.md.
"""

from __future__ import annotations

import functools
import tomllib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import check_async_sqlalchemy as checker
import pytest

from tools.sdists import Package, cache_dir, fetch
from tools.snippets import ROOT

CORPUS = ROOT / "tests" / "checker" / "corpus.toml"
REPORT = ROOT / "tests" / "checker" / "README.md"
MAX_FALSE_POSITIVE_RATE = 0.10


@dataclass(frozen=True)
class Reviewed:
    package: str
    where: str  # path inside the sdist:line:col
    rule: str
    verdict: str  # "true" or "false"
    why: str


def corpus() -> tuple[list[Package], list[Reviewed]]:
    data = tomllib.loads(CORPUS.read_text())
    packages = [Package(p["name"], p["version"], p["sha256"]) for p in data["package"]]
    reviewed = [
        Reviewed(f["package"], f["where"], f["rule"], f["verdict"], f["why"])
        for f in data.get("finding", [])
    ]
    return packages, reviewed


@functools.cache
def corpus_findings() -> dict[tuple[str, str, str], str]:
    """(package, where, rule) -> message for every finding on every package of the corpus."""
    packages, _ = corpus()
    cache = cache_dir()
    found: dict[tuple[str, str, str], str] = {}
    for package in packages:
        top = fetch(package, cache)
        findings, _errors = checker.check_paths([str(top)])
        for finding in findings:
            where = f"{Path(finding.path).relative_to(top).as_posix()}:{finding.line}:{finding.col}"
            found[(package.name, where, finding.code)] = finding.text()
    return found


def test_corpus_file_is_well_formed() -> None:
    packages, reviewed = corpus()
    assert len(packages) >= 5
    names = [p.name for p in packages]
    assert len(set(names)) == len(names), "a package is listed twice"
    for item in reviewed:
        assert item.package in names, f"{item.where}: unknown package {item.package}"
        assert item.rule in checker.RULES, f"{item.where}: unknown rule {item.rule}"
        assert item.verdict in ("true", "false"), f"{item.where}: verdict must be true or false"
        assert len(item.why) > 20, f"{item.where}: explain the verdict"
    keys = [(r.package, r.where, r.rule) for r in reviewed]
    assert len(set(keys)) == len(keys), "a finding is reviewed twice"


def test_findings_on_real_packages_are_exactly_the_reviewed_ones() -> None:
    _, reviewed = corpus()
    expected = {(r.package, r.where, r.rule) for r in reviewed}
    found = corpus_findings()
    new = sorted(set(found) - expected)
    gone = sorted(expected - set(found))
    assert not new, "new findings, review them in tests/checker/corpus.toml:\n" + "\n".join(
        f"  {package}: {found[(package, where, rule)]}" for package, where, rule in new
    )
    assert not gone, f"reviewed findings no longer reported, remove them: {gone}"


def report_lines() -> list[str]:
    """The figures of tests/checker/README.md, computed from the reviewed list."""
    packages, reviewed = corpus()
    total = len(reviewed)
    false = sum(1 for r in reviewed if r.verdict == "false")
    lines = [
        f"| {p.name} {p.version} | "
        f"{sum(1 for r in reviewed if r.package == p.name)} | "
        f"{sum(1 for r in reviewed if r.package == p.name and r.verdict == 'true')} | "
        f"{sum(1 for r in reviewed if r.package == p.name and r.verdict == 'false')} |"
        for p in packages
    ]
    lines.append(
        f"| **all {len(packages)} packages** | **{total}** | **{total - false}** | **{false}** |"
    )
    rate = false / total if total else 0.0
    lines.append(f"False-positive rate: {false}/{total} = {rate:.1%}.")
    by_rule = Counter(r.rule for r in reviewed)
    lines.append(
        "Findings by rule: " + ", ".join(f"{rule} {n}" for rule, n in sorted(by_rule.items())) + "."
    )
    return lines


def test_false_positive_rate_is_at_most_ten_percent() -> None:
    _, reviewed = corpus()
    false = [r for r in reviewed if r.verdict == "false"]
    assert reviewed
    assert len(false) / len(reviewed) <= MAX_FALSE_POSITIVE_RATE, [r.where for r in false]


def test_report_shows_the_reviewed_figures() -> None:
    text = REPORT.read_text()
    missing = [line for line in report_lines() if line not in text]
    assert not missing, (
        "tests/checker/README.md is out of date; its lines should read:\n"
        + "\n".join(report_lines())
    )


@pytest.mark.parametrize("package", [p.name for p in corpus()[0]])
def test_each_package_uses_sqlalchemy_asyncio(package: str) -> None:
    """The corpus is what the checker is for: code written against sqlalchemy.ext.asyncio."""
    corpus_findings()  # downloads everything once
    (entry,) = [p for p in corpus()[0] if p.name == package]
    top = cache_dir() / entry.key
    uses = [
        path
        for path in top.rglob("*.py")
        if "sqlalchemy.ext.asyncio" in path.read_text(encoding="utf-8", errors="replace")
    ]
    assert uses, f"{package} does not import sqlalchemy.ext.asyncio"
