"""Quarterly research releases: cohort at the freeze date, pseudonyms, release tables,
gate, manifest and registry, notes, data dictionary and the Airlock-safe summary."""
