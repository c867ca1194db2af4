"""Withdrawal: propagation targets, physical erasure, residue scan, tombstones, audit."""
