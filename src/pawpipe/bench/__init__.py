"""The benchmark of the project's hot paths: `python -m pawpipe.bench` (see pawpipe.bench.run)."""
