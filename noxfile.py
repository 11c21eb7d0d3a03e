"""Test sessions: one per SQLAlchemy line, plus lint. Run through ./run-tests.sh.

./run-tests.sh                         # lint + both SQLAlchemy lines, every lane
./run-tests.sh -s tests-2.1            # one SQLAlchemy line
./run-tests.sh -s tests-2.0 -- --lanes postgresql   # one lane (pytest args after --)
"""

import os

import nox

nox.options.default_venv_backend = "uv"
nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_missing_interpreters = True

# The newest patch release of each line: what a user installs today. (The skill recommends
# 2.0.56+/2.1.7+, the first releases with every asyncio cancellation fix.)
SQLALCHEMY_LINES = {
    "2.0": "sqlalchemy[asyncio]>=2.0.59,<2.1",
    "2.1": "sqlalchemy[asyncio]>=2.1.9,<2.2",
}
nox.options.sessions = [
    "lint",
    *(f"tests-{line}" for line in SQLALCHEMY_LINES),
    "benchmarks-quick",
]


@nox.session
def lint(session: nox.Session) -> None:
    session.install("-e", ".[test]")
    session.run("ruff", "check", ".")
    session.run("python", "-m", "tools.snippets")


def _tests(session: nox.Session, requirement: str) -> None:
    session.install("-e", ".[test]", requirement)
    session.run("python", "-c", "import sqlalchemy; print('SQLAlchemy', sqlalchemy.__version__)")
    # Typing differs between the lines (e.g. Select[tuple[int]] vs Select[int]): check both.
    session.run("mypy")
    # Two worker processes (pytest-xdist), each with its own databases; a module's tests stay on
    # one worker so its module-scoped fixtures are made once. SQLA_TEST_WORKERS=0 runs in-process.
    workers = os.environ.get("SQLA_TEST_WORKERS", "2")
    session.run("pytest", "-n", workers, "--dist", "loadscope", *session.posargs)


for _line, _requirement in SQLALCHEMY_LINES.items():

    def _session(session: nox.Session, requirement: str = _requirement) -> None:
        _tests(session, requirement)

    nox.session(name=f"tests-{_line}")(_session)


@nox.session(name="benchmarks-quick")
def benchmarks_quick(session: nox.Session) -> None:
    """Every benchmark at small size: proves they still run (full size: python -m benchmarks)."""
    session.install("-e", ".[test]", SQLALCHEMY_LINES["2.1"])
    session.run("python", "-m", "benchmarks", "--quick", "--lanes", "postgresql,mysql,sqlite")
