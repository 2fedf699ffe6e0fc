"""`cognitionos memories import FILE.jsonl`: a file of memories into the running system, near-duplicates merged."""

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.support import ThreadedServer

BIN = Path(sys.executable).parent


def import_file(platform_gateway: ThreadedServer, file: Path, state: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / "cognitionos"), "memories", "import", str(file), "--gateway-url", platform_gateway.url],
        env={**os.environ, "XDG_STATE_HOME": str(state), "NO_COLOR": "1"},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_jsonl_file_is_imported_with_its_near_duplicates_merged(
    platform_gateway: ThreadedServer, tmp_path: Path
) -> None:
    rows = [
        {"content": "The user's favourite editor is Helix", "memory_type": "preference"},
        {"content": "The user's favourite editor is Helix."},
        {"content": "The user's daughter starts school in September", "metadata": {"family": True}},
    ]
    file = tmp_path / "memories.jsonl"
    file.write_text("\n".join(json.dumps(row) for row in rows) + "\n\n")
    done = import_file(platform_gateway, file, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 new memories, 1 near-duplicates merged (3 rows)" in done.stdout

    file.write_text('{"content": "fine"}\n\n{"memory_type": "fact"}\n')
    refused = import_file(platform_gateway, file, tmp_path)
    assert refused.returncode == 2 and "Line 3 is not a valid memory (content: Field required)" in refused.stderr
