"""Withdrawal: batches, propagation targets, physical erasure, residue scan, audit ledger and
report."""
