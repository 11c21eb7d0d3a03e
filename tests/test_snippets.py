"""Every python fence in SKILL.md and references/ is a region of a module in examples/."""

import shutil
from pathlib import Path

from tools.snippets import ROOT, check, documents, read_fences, write


def test_every_fence_is_mirrored_from_examples() -> None:
    problems = check()
    assert not problems, "\n\n".join(problems)


def _copy_tree(tmp_path: Path) -> Path:
    for name in ("SKILL.md", "references", "examples"):
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, tmp_path / name)
    return tmp_path


def test_one_changed_character_fails_naming_file_and_region(tmp_path: Path) -> None:
    root = _copy_tree(tmp_path)
    fence = read_fences(root / "SKILL.md")[0]
    assert fence.source is not None
    module_path, region = fence.source.split("#")
    module = root / module_path
    text = module.read_text()
    marker = f"# region: {region}\n"
    start = text.index(marker) + len(marker)
    first_char = start + len(text[start:]) - len(text[start:].lstrip())
    module.write_text(text[:first_char] + "Z" + text[first_char:])

    problems = check(root)

    assert len(problems) == 1
    assert problems[0].startswith(
        f"SKILL.md:{fence.line}: fence differs from region {fence.source}"
    )
    assert write(root) == [root / "SKILL.md"]
    assert check(root) == []


def test_a_fence_without_region_is_reported(tmp_path: Path) -> None:
    root = _copy_tree(tmp_path)
    skill = root / "SKILL.md"
    skill.write_text(skill.read_text() + "\n```python\nprint('pasted by hand')\n```\n")
    problems = check(root)
    assert len(problems) == 1
    assert "python fence has no region" in problems[0]


def test_documents_have_fences() -> None:
    assert sum(len(read_fences(doc)) for doc in documents()) > 0
