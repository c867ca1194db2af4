"""Consent partitions: none. Consent intake is one unpartitioned run per pending set of
feed files (the registry is folded as a whole: the latest record per participant wins)."""
