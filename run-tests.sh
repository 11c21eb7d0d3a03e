#!/usr/bin/env bash
# Sets up its own environment and runs everything: ruff, the snippet check, mypy --strict and
# pytest on SQLAlchemy 2.0 and 2.1, on SQLite, PostgreSQL and MariaDB.
# Arguments go to nox, e.g.:  ./run-tests.sh -s tests-2.1 -- --lanes postgresql
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

python=${PYTHON:-python3}
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "run-tests.sh: needs Python >= 3.11 as '$python' (set PYTHON=/path/to/python3.11)" >&2
    exit 1
fi

bootstrap=.nox/.bootstrap
if [ ! -x "$bootstrap/bin/nox" ]; then
    if ! "$python" -m venv "$bootstrap" >/dev/null 2>&1; then
        rm -rf "$bootstrap"
        echo "run-tests.sh: '$python -m venv' failed; on Debian/Ubuntu: sudo apt-get install -y python3-venv" >&2
        exit 1
    fi
    "$bootstrap/bin/python" -m pip install --quiet --disable-pip-version-check 'nox[uv]>=2024.10'
fi
exec "$bootstrap/bin/nox" "$@"
