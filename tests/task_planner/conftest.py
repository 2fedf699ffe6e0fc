"""The provider test servers come from tests/providers.py (registered for the whole suite)."""
