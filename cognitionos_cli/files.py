"""`cognitionos files ...`: upload files for runs to read (`cognitionos run --file`), list them and what runs left
in /work/outputs, download and delete them. Exit codes as for `cognitionos run` (1: no such file)."""

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from cognitionos_cli.account import ApiKey, GatewayUrl
from cognitionos_cli.runs import AsJson, NewestFirst, signed_in
from cognitionos_sdk.formatting import human_bytes

FileId = Annotated[str, typer.Argument(help="The file's id (cognitionos files list shows them)")]

files_app = typer.Typer(
    help="Your files: upload for runs to read, list (with runs' outputs), download, delete.",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)


@files_app.command("upload")
def upload_files(
    paths: Annotated[list[Path], typer.Argument(exists=True, dir_okay=False, readable=True, help="Files to upload")],
    url: GatewayUrl = None,
    api_key: ApiKey = None,
    as_json: AsJson = False,
) -> None:
    """Upload files (streamed from disk); each one's id goes to `cognitionos run --file-id` or the API's `files`."""
    console = Console(highlight=False)
    with signed_in(url, api_key) as gateway:
        uploaded = [gateway.sdk.files.upload(path).model_dump(mode="json") for path in paths]
    if as_json:
        console.out(json.dumps(uploaded))
        return
    for f in uploaded:
        console.out(f"{f['id']}  {f['name']}  {human_bytes(f['size'])}  {f['media_type']}")


@files_app.command("list")
def list_files(
    url: GatewayUrl = None,
    api_key: ApiKey = None,
    run: Annotated[str | None, typer.Option(help="Only this run's files (its outputs)")] = None,
    kind: Annotated[str | None, typer.Option(help="input (uploads) or output (left by runs' code)")] = None,
    limit: NewestFirst = 20,
    as_json: AsJson = False,
) -> None:
    """Your files, newest first: id, kind, size, name (and the run that made an output)."""
    console = Console(highlight=False)
    with signed_in(url, api_key) as gateway:
        found = [f.model_dump(mode="json") for f in gateway.sdk.files.list(run_id=run, kind=kind, limit=limit).items]
    if as_json:
        console.out(json.dumps(found))
        return
    console.out(f"{'id':<36}  {'kind':<6}  {'size':>9}  name")
    for f in found:
        made_by = f"  (run {f['run_id']})" if f["run_id"] else ""
        console.out(f"{f['id']:<36}  {f['kind']:<6}  {human_bytes(f['size']):>9}  {f['name']}{made_by}")


@files_app.command("show")
def show_file(file_id: FileId, url: GatewayUrl = None, api_key: ApiKey = None, as_json: AsJson = False) -> None:
    """One file's metadata."""
    console = Console(highlight=False)
    with signed_in(url, api_key) as gateway:
        found = gateway.sdk.files.get(file_id).model_dump(mode="json")
    console.out(json.dumps(found) if as_json else "\n".join(f"{k}: {v}" for k, v in found.items()))


@files_app.command("download")
def download_file(
    file_id: FileId,
    url: GatewayUrl = None,
    api_key: ApiKey = None,
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Where to write it (a folder: the file's own name inside it)")
    ] = Path("."),
) -> None:
    """Download a file (streamed to disk); prints where it went."""
    with signed_in(url, api_key) as gateway:
        written = gateway.sdk.files.download(file_id, output)
    typer.echo(str(written))


@files_app.command("delete")
def delete_file(file_id: FileId, url: GatewayUrl = None, api_key: ApiKey = None) -> None:
    """Delete a file and its bytes."""
    with signed_in(url, api_key) as gateway:
        gateway.sdk.files.delete(file_id)
    typer.echo(f"file {file_id} deleted")
