"""`cognitionos memories ...`: import (near-duplicates merged), list, search, export to another account, delete."""

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from cognitionos_cli.main import app
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
    rows: list[dict[str, Any]] = [
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


def cognitionos(state: Path, platform_gateway: ThreadedServer, *args: str, stdin: str = "") -> tuple[int, str, str]:
    """The CLI in process, acting as the machine account of the state folder `state`."""
    env = {"API_GATEWAY_URL": platform_gateway.url, "XDG_STATE_HOME": str(state)}
    result = CliRunner().invoke(app, list(args), env=env, input=stdin)
    return result.exit_code, result.stdout, result.stderr


def test_memories_are_listed_searched_exported_to_another_account_and_deleted(
    platform_gateway: ThreadedServer, tmp_path: Path
) -> None:
    mine, theirs = tmp_path / "mine", tmp_path / "theirs"
    source = tmp_path / "in.jsonl"
    rows: list[dict[str, Any]] = [
        {"content": "The user's favourite editor is Helix", "memory_type": "preference", "metadata": {"tool": True}},
        {"content": "The user's daughter starts school in September"},
    ]
    source.write_text("".join(json.dumps(row) + "\n" for row in rows))
    code, out, _ = cognitionos(mine, platform_gateway, "memories", "import", str(source), "--json")
    assert code == 0 and json.loads(out)["imported"] == 2

    code, out, _ = cognitionos(mine, platform_gateway, "memories", "list", "--json")
    listed = json.loads(out)
    assert code == 0 and sorted(m["content"] for m in listed) == sorted(r["content"] for r in rows)
    code, out, _ = cognitionos(mine, platform_gateway, "memories", "search", "which text editor", "--json")
    found = json.loads(out)
    assert code == 0 and "Helix" in found[0]["content"] and found[0]["relevance_score"] > 0
    code, out, _ = cognitionos(mine, platform_gateway, "memories", "list")
    assert code == 0 and "Helix" in out and out.splitlines()[0].startswith("id ")

    exported = tmp_path / "out.jsonl"
    code, _, _ = cognitionos(mine, platform_gateway, "memories", "export", str(exported))
    lines = [json.loads(line) for line in exported.read_text().splitlines()]
    assert code == 0 and len(lines) == 2 and all("id" not in line for line in lines)
    helix = next(line for line in lines if "Helix" in line["content"])
    assert helix["memory_type"] == "preference" and helix["metadata"] == {"tool": True}
    code, out, _ = cognitionos(theirs, platform_gateway, "memories", "import", str(exported))
    assert code == 0 and "2 new memories" in out  # the same memories, in another account

    helix_id = next(m["id"] for m in listed if "Helix" in m["content"])
    code, _, _ = cognitionos(mine, platform_gateway, "memories", "delete", helix_id, stdin="n\n")
    assert code == 1  # asked, and told no: still there
    code, out, _ = cognitionos(mine, platform_gateway, "memories", "delete", helix_id, "--yes")
    assert code == 0 and f"deleted memory {helix_id}" in out
    code, out, _ = cognitionos(mine, platform_gateway, "memories", "list", "--json")
    assert [m["content"] for m in json.loads(out)] == [rows[1]["content"]]
    code, _, err = cognitionos(mine, platform_gateway, "memories", "delete", helix_id, "--yes")
    assert code == 1 and err.strip() == f"error: no memory {helix_id}"


def test_status_prints_json(platform_gateway: ThreadedServer, tmp_path: Path) -> None:
    code, out, _ = cognitionos(tmp_path, platform_gateway, "status", "--json")
    assert set(json.loads(out)["services"]) >= {"memory-service", "ai-runtime"}
    assert code in (0, 1)  # healthy, or degraded where a provider is off: the document says which
