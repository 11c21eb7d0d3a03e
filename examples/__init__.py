"""Runnable examples: every python snippet in SKILL.md and references/ is a region of one of these.

Run one with ``python -m examples.<module>`` (SQLite by default, ``DATABASE_URL`` when set).
"""
