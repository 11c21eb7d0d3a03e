"""The seed's "type-safe" claim, checked: its typing mistakes fail mypy --strict; ours pass.

mypy runs over examples/ in every nox session; these tests prove the two mistakes the seed made
are the kind mypy catches, on the installed SQLAlchemy line.
"""

import re
import textwrap
from pathlib import Path

from mypy import api

SEED_STYLE = textwrap.dedent(
    """
    from sqlalchemy import update
    from sqlalchemy.ext.asyncio import AsyncSession

    from examples.models import User


    async def rename_many(session: AsyncSession, old: str, name: str = None) -> int:
        result = await session.execute(update(User).where(User.name == old).values(name=name))
        return result.rowcount
    """
)

FIXED = textwrap.dedent(
    """
    from typing import Any, cast

    from sqlalchemy import CursorResult, update
    from sqlalchemy.ext.asyncio import AsyncSession

    from examples.models import User


    async def rename_many(session: AsyncSession, old: str, name: str | None = None) -> int:
        result = await session.execute(update(User).where(User.name == old).values(name=name))
        return cast("CursorResult[Any]", result).rowcount
    """
)


def _mypy(tmp_path: Path, source: str) -> tuple[str, int]:
    module = tmp_path / "snippet.py"
    module.write_text(source)
    stdout, stderr, status = api.run(
        ["--strict", "--no-incremental", "--python-version", "3.11", str(module)]
    )
    return stdout + stderr, status


def test_seed_style_fails_mypy_strict(tmp_path: Path) -> None:
    output, status = _mypy(tmp_path, SEED_STYLE)
    assert status == 1
    assert re.search(r"Incompatible default for (argument|parameter)", output)  # str = None
    assert '"Result[' in output
    assert 'has no attribute "rowcount"' in output


def test_fixed_version_passes_mypy_strict(tmp_path: Path) -> None:
    output, status = _mypy(tmp_path, FIXED)
    assert status == 0, output
