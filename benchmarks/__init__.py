"""The numbers behind every performance claim of the skill: ``python -m benchmarks --help``.

Each module measures one comparison; ``registry()`` lists them in the order they run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from benchmarks.harness import Benchmark


def registry() -> dict[str, Benchmark]:
    """Every benchmark by name. Imported lazily: ``python -m benchmarks.streaming`` children
    must not import their own module twice."""
    from benchmarks import (
        bulk_insert,
        external_io,
        loading,
        pagination,
        pools,
        streaming,
        upsert,
    )

    modules = (bulk_insert, upsert, loading, streaming, pagination, pools, external_io)
    return {module.BENCHMARK.name: module.BENCHMARK for module in modules}
