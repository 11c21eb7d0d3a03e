"""Alembic migrations for the examples' models: env.py on an async engine, revisions 0001-0002,
``runner.run_migrations`` (run them from async code) and ``handwritten`` (operations that
autogenerate does not write)."""
