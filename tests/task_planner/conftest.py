# The wire-protocol provider servers and their per-test reset, shared with the ai-runtime tests.
from tests.ai_runtime.conftest import providers, reset_providers  # noqa: F401
