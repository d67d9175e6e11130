"""Datasets and process targets for tests/test_store.py (crashes and concurrent saves)."""
