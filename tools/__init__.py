"""Project machinery shared by tests/ and benchmarks/: database servers, SQL counting, snippets."""
