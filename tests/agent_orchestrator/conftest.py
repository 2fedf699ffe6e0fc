"""The platform, the role script and the runs client are registered once for the whole suite, in
tests/running_services.py: one orchestrator on the session database, whichever folder's tests start it."""
