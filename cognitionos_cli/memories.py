"""`cognitionos memories ...`: list, search, export, import and delete your memories on the running system.

`export` writes JSON lines in the shape `import` reads (and POST /api/v1/memories takes), so a user's memories move
between installs with the two. Exit codes as for runs (runs.py).
"""

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from cognitionos_cli.account import ApiKey, GatewayUrl
from cognitionos_cli.runs import EXIT_RUN_FAILED, AsJson, NewestFirst, fail, signed_in
from cognitionos_sdk import Memory, NotFoundError

# What a memory carries from one install to another: everything POST /api/v1/memories takes that is the user's own
# (not ids, counters or the embedding, which the new install makes again).
PORTABLE_FIELDS = ("content", "memory_type", "scope", "metadata", "source", "confidence", "is_sensitive", "expires_at")

memories_app = typer.Typer(
    help="Your memories on the running system: list, search, export, import, delete.",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)


def _print(console: Console, memories: list[Memory], *, as_json: bool, scored: bool = False) -> None:
    rows = [m.model_dump(mode="json") for m in memories]
    if as_json:
        console.out(json.dumps(rows))
        return
    if not rows:
        console.out("no memories")
        return
    # Whole ids (they are copied into `delete`), the content wrapped in the width that is left.
    table = Table(box=None, pad_edge=False, show_edge=False)
    table.add_column("id", no_wrap=True)
    table.add_column("type", no_wrap=True)
    if scored:
        table.add_column("score", no_wrap=True, justify="right")
    table.add_column("content", overflow="fold")
    for row in rows:
        score = [f"{row.get('relevance_score') or 0:.3f}"] if scored else []
        table.add_row(row["id"], row["memory_type"], *score, " ".join(row["content"].split()))
    console.print(table)


@memories_app.command("list")
def list_memories(
    url: GatewayUrl = None,
    api_key: ApiKey = None,
    limit: NewestFirst = 20,
    as_json: AsJson = False,
) -> None:
    """Your latest memories: id, type, when and content."""
    with signed_in(url, api_key) as gateway:
        found = gateway.sdk.memories.list(limit=limit).items
    _print(Console(highlight=False), found, as_json=as_json)


@memories_app.command("search")
def search_memories(
    query: Annotated[str, typer.Argument(help="What to look for, in words")],
    url: GatewayUrl = None,
    api_key: ApiKey = None,
    k: Annotated[int, typer.Option(min=1, max=100, help="How many, best first")] = 10,
    hybrid: Annotated[bool, typer.Option("--hybrid", help="Meaning and keywords together (default: meaning)")] = False,
    as_json: AsJson = False,
) -> None:
    """The memories closest in meaning to the query, with their similarity."""
    with signed_in(url, api_key) as gateway:
        found = gateway.sdk.memories.search(query, k=k, hybrid=hybrid)
    _print(Console(highlight=False), found, as_json=as_json, scored=True)


def _portable(memory: Memory) -> dict[str, Any]:
    row = memory.model_dump(mode="json")
    return {field: row[field] for field in PORTABLE_FIELDS if row.get(field) is not None}


@memories_app.command("export")
def export_memories(
    file: Annotated[Path | None, typer.Argument(help="Where to write them (default: standard output)")] = None,
    url: GatewayUrl = None,
    api_key: ApiKey = None,
) -> None:
    """Every memory of yours as JSON lines, one memory per line, in the shape `cognitionos memories import` reads:
    what moves them to another install."""
    with signed_in(url, api_key) as gateway:
        lines = [json.dumps(_portable(memory)) for memory in gateway.sdk.memories.list(limit=200)]
    text = "".join(f"{line}\n" for line in lines)
    if file is None:
        sys.stdout.write(text)
        return
    file.write_text(text, encoding="utf-8")
    typer.echo(f"{len(lines)} memories written to {file}", err=True)


@memories_app.command("import")
def import_memories(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="JSON lines: one memory per line")],
    url: GatewayUrl = None,
    api_key: ApiKey = None,
    as_json: AsJson = False,
) -> None:
    """Bulk import: each line is a memory as POST /api/v1/memories takes it (`content`, optional `embedding`,
    `memory_type`, `metadata`, ...). Near-duplicates strengthen what is stored instead of adding copies; the whole
    file is loaded in one transaction, or nothing is."""
    with signed_in(url, api_key) as gateway, file.open(encoding="utf-8") as lines:
        job = gateway.import_memories(lines)
    if as_json:
        typer.echo(json.dumps(job))
    if job["status"] == "failed":
        fail(EXIT_RUN_FAILED, f"import {job['id']} failed: {job['error']}")
    if not as_json:
        typer.echo(
            f"import {job['id']}: {job['imported']} new memories, {job['deduplicated']} near-duplicates merged "
            f"({job['rows_staged']} rows)"
        )


@memories_app.command("delete")
def delete_memory(
    memory_id: Annotated[str, typer.Argument(help="The memory's id (list and search show them)")],
    url: GatewayUrl = None,
    api_key: ApiKey = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask first")] = False,
) -> None:
    """Delete one memory (its history keeps a record of the deletion)."""
    with signed_in(url, api_key) as gateway:
        try:
            memory = gateway.sdk.memories.get(memory_id)
        except NotFoundError:
            fail(EXIT_RUN_FAILED, f"no memory {memory_id}")
        if not yes and not typer.confirm(f"Delete “{memory.content[:80]}”?", default=False):
            raise typer.Exit(EXIT_RUN_FAILED)
        gateway.sdk.memories.delete(memory_id)
    typer.echo(f"deleted memory {memory_id}")
