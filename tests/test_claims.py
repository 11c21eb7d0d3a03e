"""The claims ledger (tests/claims/*.toml, explained in tools/claims.py): every sentence of SKILL.md
and every rule and table row of a reference that states a behaviour, a number or a version names
the tests or benchmarks that prove it, and those exist."""

from __future__ import annotations

import functools

import pytest

from benchmarks import registry
from tools.claims import ROOT, Entry, defined_tests, documents, ledger, normalize, uncovered


@functools.cache
def entries() -> tuple[Entry, ...]:
    return tuple(ledger())


DOCS = [str(path.relative_to(ROOT)) for path, _ in documents()]


def test_every_ledger_text_is_in_its_document() -> None:
    stale = [
        f"{entry.doc}: {entry.text!r}"
        for entry in entries()
        if not (ROOT / entry.doc).is_file()
        or entry.text not in normalize((ROOT / entry.doc).read_text())
    ]
    assert not stale, "ledger texts no longer in the docs:\n" + "\n".join(stale)


def test_every_proof_exists() -> None:
    benchmarks = set(registry())
    missing: list[str] = []
    for entry in entries():
        if not entry.proof:
            missing.append(f"{entry.doc}: {entry.text!r} names no proof")
        for proof in entry.proof:
            if proof.startswith("benchmark:"):
                if proof.removeprefix("benchmark:") not in benchmarks:
                    missing.append(f"{proof} is not a registered benchmark")
                continue
            path, _, name = proof.partition("::")
            module = ROOT / path
            if not path.startswith("tests/") or not module.is_file():
                missing.append(f"{proof}: no such test module")
            elif name not in defined_tests(module):
                missing.append(f"{proof}: no such test")
    assert not missing, "\n".join(missing)


@pytest.mark.parametrize("doc", DOCS)
def test_every_claim_has_a_ledger_entry(doc: str) -> None:
    missing = [u for u in uncovered(list(entries())) if u.doc == doc]
    assert not missing, f"{len(missing)} claim(s) of {doc} without a ledger entry:\n" + "\n".join(
        f"{u.doc}:{u.line}: {u.text}" for u in missing
    )
