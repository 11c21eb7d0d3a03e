"""The FastAPI history references/fastapi.md states, read from FastAPI's own released code: the
sdists of the releases on each side of every change (downloaded once, sha256 pinned, by
tools/sdists.py), and the installed package.

Where the code after `yield` in a dependency runs is decided by where FastAPI's exit stack for
dependencies closes: if the response is sent inside that `async with AsyncExitStack()` block,
the exit code runs after the response is sent."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import fastapi
import pytest

from tools.sdists import Package, fetch

FASTAPI = {
    package.version: package
    for package in [
        Package(
            "fastapi", "0.105.0", "4d12838819aa52af244580675825e750ad67c9df4614f557a769606af902cf22"
        ),
        Package(
            "fastapi", "0.106.0", "c7e7453ac8c4b7414bbafcf90127d743559808eee286ae2c9f99a501f0b534a0"
        ),
        Package(
            "fastapi", "0.117.1", "fb2d42082d22b185f904ca0ecad2e195b851030bd6c5e4c032d1c981240c631a"
        ),
        Package(
            "fastapi", "0.118.0", "5e81654d98c4d2f53790a7d32d25a7353b30c81441be7d0958a26b5d761fa1c8"
        ),
        Package(
            "fastapi", "0.120.4", "2d856bc847893ca4d77896d4504ffdec0fb04312b705065fca9104428eca3868"
        ),
        Package(
            "fastapi", "0.121.0", "06663356a0b1ee93e875bbf05a31fb22314f5bed455afaaad2b2dad7f26e98fa"
        ),
    ]
}


def _is_exit_stack(item: ast.withitem) -> bool:
    call = item.context_expr
    return (
        isinstance(call, ast.Call)
        and isinstance(call.func, ast.Name)
        and call.func.id == "AsyncExitStack"
    )


def _sends_the_response(node: ast.AST) -> bool:
    """An ``await something(scope, receive, send)``: the response (or the app) sending it."""
    return any(
        isinstance(inner, ast.Await)
        and isinstance(inner.value, ast.Call)
        and [a.id for a in inner.value.args if isinstance(a, ast.Name)]
        == ["scope", "receive", "send"]
        for inner in ast.walk(node)
    )


def sends_inside_the_exit_stack(release: Path) -> bool:
    """Does this release send the response inside an ``async with AsyncExitStack()`` block of
    its routing (or of the exit-stack middleware releases before 0.106.0 had)?"""
    sources = [release / "fastapi/routing.py", release / "fastapi/middleware/asyncexitstack.py"]
    for source in sources:
        if not source.is_file():
            continue
        for node in ast.walk(ast.parse(source.read_text())):
            if (
                isinstance(node, ast.AsyncWith)
                and any(_is_exit_stack(item) for item in node.items)
                and any(_sends_the_response(statement) for statement in node.body)
            ):
                return True
    return False


def depends_parameters(release: Path) -> list[str]:
    tree = ast.parse((release / "fastapi/param_functions.py").read_text())
    (depends,) = [
        node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == "Depends"
    ]
    return [arg.arg for arg in depends.args.args + depends.args.kwonlyargs]


@pytest.mark.parametrize(
    ("version", "after_the_response"),
    [("0.105.0", True), ("0.106.0", False), ("0.117.1", False), ("0.118.0", True)],
)
def test_when_the_code_after_yield_runs(version: str, after_the_response: bool) -> None:
    """Before 0.106.0 after the response was sent; 0.106.0 to 0.117.x before; 0.118.0 after."""
    assert sends_inside_the_exit_stack(fetch(FASTAPI[version])) is after_the_response


def test_scope_arrived_in_0_121_0() -> None:
    assert "scope" not in depends_parameters(fetch(FASTAPI["0.120.4"]))
    assert "scope" in depends_parameters(fetch(FASTAPI["0.121.0"]))


def test_the_installed_fastapi_has_scope() -> None:
    """The suite runs the example's Depends(get_session, scope="function"): it needs >= 0.121."""
    assert "scope" in inspect.signature(fastapi.Depends).parameters
    assert tuple(int(part) for part in fastapi.__version__.split(".")[:2]) >= (0, 121)
