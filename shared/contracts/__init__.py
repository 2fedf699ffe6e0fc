"""Typed contracts for every body that crosses a service boundary: the producing service's routes take and return
these models, and the consuming services call through the typed clients in clients.py, so a renamed field is a type
error, not an integration test failure."""
