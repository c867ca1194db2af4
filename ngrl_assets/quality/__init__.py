"""Data quality: the Great Expectations suites of ``expectations/`` wired as Dagster asset
checks (``checks.py``) and the keys jobs leave out (``keys.py``)."""
