"""Users' files: uploads (inputs of runs) and what runs' code leaves in /work/outputs (artifacts). Rows in `files`,
bytes in the file storage (storage.py) under their SHA-256. Every file is its owner's alone: another user's id is
404, as if it did not exist."""

import hashlib
import mimetypes
import re
import tarfile
import unicodedata
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.requests import ClientDisconnect, Request

from database.models import StoredFile
from services.tool_runner import repository
from services.tool_runner.config import MULTIPART_OVERHEAD_BYTES, ToolRunnerSettings
from services.tool_runner.sandbox import OutputLimits
from services.tool_runner.storage import CHUNK_BYTES, FileStorage
from services.tool_runner.uploads import MultipartUpload
from shared import teams
from shared.contracts.files import FileBrief, FileKind, FileResponse
from shared.errors import (
    BadRequestError,
    NotFoundError,
    PayloadTooLargeError,
    RangeNotSatisfiableError,
    UnprocessableError,
)
from shared.identity import Identity
from shared.pagination import Page, after_cursor, page_of

NAME_MAX_BYTES = 255
MEDIA_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]{0,126}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$")
TEXT_TYPES = frozenset({"application/json", "application/xml", "application/x-ndjson", "application/yaml"})
HEAD_BYTES = 4096
HEAD_LINES = 10
STALE_STAGING = timedelta(hours=6)
UNSAFE_NAME_CHARACTERS = frozenset('<>:"|?*\\/')


def sanitize_name(raw: str) -> str:
    """A file name with no folder, no control characters (NUL included) and no leading dots: `../etc/passwd`
    becomes `passwd`. Never empty."""
    name = unicodedata.normalize("NFC", raw.replace("\\", "/").rsplit("/", 1)[-1])
    name = "".join(c for c in name if c.isprintable() and c not in UNSAFE_NAME_CHARACTERS)
    return name.strip().lstrip(".").strip() or "file"


def browser_escapes_undone(filename: str) -> str:
    """A multipart filename as browsers and httpx send it escapes ", CR and LF as %22, %0D and %0A (the HTML
    standard's form encoding): undone before sanitising, so `%22` is not taken for part of the name."""
    return filename.replace("%22", '"').replace("%0D", "\r").replace("%0A", "\n")


def artifact_name(path: str) -> str:
    """An output's name from its path under /work/outputs (`report/table.csv` -> `report_table.csv`), at most
    NAME_MAX_BYTES (the extension kept)."""
    name = "_".join(sanitize_name(part) for part in path.split("/") if part not in ("", ".", ".."))
    name = name or "file"
    while len(name.encode()) > NAME_MAX_BYTES:
        stem, dot, extension = name.rpartition(".")
        name = f"{stem[:-1]}{dot}{extension}" if dot and len(extension) < 16 and stem else name[:-1]
    return name


def is_text(media_type: str) -> bool:
    return media_type.startswith("text/") or media_type in TEXT_TYPES or media_type.endswith(("+json", "+xml"))


def _media_type(given: str | None, name: str) -> str:
    """The part's own Content-Type, else one guessed from the name; application/octet-stream at worst."""
    if given:
        media_type = given.split(";", 1)[0].strip().lower()
        if not MEDIA_TYPE.match(media_type):
            raise UnprocessableError(
                "The file part's Content-Type is not a media type",
                code="invalid_media_type",
                details={"given": given[:100]},
            )
        if media_type != "application/octet-stream":
            return media_type
    return mimetypes.guess_type(name, strict=False)[0] or "application/octet-stream"


class _Counted:
    """The chunks, hashed and counted on their way to the storage; passing `room` bytes raises 413 there and then,
    so the storage stops the write and keeps nothing."""

    def __init__(self, chunks: AsyncIterable[bytes], *, room: int, quota_bound: bool) -> None:
        self.chunks, self.room, self.quota_bound = chunks, room, quota_bound
        self.size = 0
        self.hash = hashlib.sha256()

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self.chunks:
            self.size += len(chunk)
            if self.size > self.room:
                raise _too_large(quota_bound=self.quota_bound, room=self.room)
            self.hash.update(chunk)
            yield chunk


def _too_large(*, quota_bound: bool, room: int) -> PayloadTooLargeError:
    if quota_bound:
        return PayloadTooLargeError(
            "This file does not fit in your storage quota", code="quota_exceeded", details={"room_bytes": room}
        )
    return PayloadTooLargeError("The file is larger than allowed", code="file_too_large", details={"max_bytes": room})


@dataclass(frozen=True, slots=True)
class Download:
    file: StoredFile
    start: int
    end: int  # exclusive
    chunks: AsyncIterator[bytes]
    partial: bool


@dataclass(slots=True)
class Collected:
    artifacts: list[FileResponse]
    truncated: bool
    skipped: list[str]  # what was left in /work/outputs but is not a regular file


@dataclass
class FileService:
    session: AsyncSession
    settings: ToolRunnerSettings
    storage: FileStorage

    # --- the API ----------------------------------------------------------------------------------------

    async def upload(self, identity: Identity, request: Request, *, team_id: uuid.UUID | None = None) -> FileResponse:
        owner = uuid.UUID(identity.user_id)
        team = await teams.team_for_new_row(self.session, identity, team_id)
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit():
            await self._check_room(owner, at_least=int(declared) - MULTIPART_OVERHEAD_BYTES)
        upload = MultipartUpload(request)
        try:
            raw_name, given_type = await upload.start()
            name = sanitize_name(browser_escapes_undone(raw_name))
            if len(name.encode()) > NAME_MAX_BYTES:
                raise UnprocessableError(
                    f"A file name has at most {NAME_MAX_BYTES} bytes",
                    code="name_too_long",
                    details={"bytes": len(name.encode())},
                )
            stored = await self.store(
                owner=owner,
                team=team,
                name=name,
                media_type=_media_type(given_type, name),
                chunks=upload.chunks(),
                kind="input",
            )
        except ClientDisconnect as exc:
            raise BadRequestError("The upload was cut off before its end", code="upload_incomplete") from exc
        await self.session.commit()
        return FileResponse.model_validate(stored)

    async def get(self, identity: Identity, file_id: uuid.UUID, *, access: teams.Access = "read") -> StoredFile:
        """One the caller may read (or delete: a team's owners and members)."""
        found = await repository.reachable_file(self.session, identity, file_id)
        return await teams.check_reached(
            self.session, identity, found, access=access, missing="No such file", code="file_not_found"
        )

    async def page(
        self,
        identity: Identity,
        *,
        run_id: uuid.UUID | None,
        kind: FileKind | None,
        cursor: str | None,
        limit: int,
    ) -> Page[FileResponse]:
        rows = await repository.page_files(
            self.session,
            identity,
            run_id=run_id,
            kind=kind,
            after=after_cursor(cursor),
            limit=limit + 1,
        )
        return page_of(rows, limit=limit, item=FileResponse.model_validate)

    async def delete(self, identity: Identity, file_id: uuid.UUID) -> None:
        stored = await self.get(identity, file_id, access="write")
        await repository.lock_content(self.session, stored.sha256)
        await self.session.delete(stored)
        await self.session.flush()
        if not await repository.content_in_use(self.session, stored.sha256):
            await self.storage.delete(FileStorage.blob_key(stored.sha256))
        await self.session.commit()

    async def download(self, identity: Identity, file_id: uuid.UUID, *, range_header: str | None) -> Download:
        stored = await self.get(identity, file_id)
        span = parse_range(range_header, stored.size)
        start, end = span or (0, stored.size)
        try:
            chunks = await self.storage.read(FileStorage.blob_key(stored.sha256), start=start, end=end)
        except FileNotFoundError as exc:
            raise NotFoundError("The file's content is missing from the storage", code="file_content_missing") from exc
        return Download(file=stored, start=start, end=end, chunks=chunks, partial=span is not None)

    async def describe(self, identity: Identity, ids: list[uuid.UUID]) -> list[FileBrief]:
        """The files, in the order asked, with the first lines of text ones: what a plan is told of its inputs."""
        stored = await self.owned(identity, ids)
        return [
            FileBrief(
                id=f.id,
                name=f.name,
                media_type=f.media_type,
                size=f.size,
                head=await self._head(f) if is_text(f.media_type) else None,
            )
            for f in stored
        ]

    # --- runs' workspaces -----------------------------------------------------------------------------

    async def owned(self, identity: Identity, ids: list[uuid.UUID]) -> list[StoredFile]:
        """The caller's files (or their teams') by id, in the order asked; 404 naming the ids they may not read."""
        found = {f.id: f for f in await repository.reachable_files(self.session, identity, ids)}
        missing = [str(i) for i in ids if i not in found]
        if missing:
            raise NotFoundError("No such file", code="file_not_found", details={"ids": missing})
        return [found[i] for i in dict.fromkeys(ids)]

    def filler(self, files: list[StoredFile]) -> Callable[[Path], Awaitable[None]]:
        """Writes the files into the folder a sandbox sees at /work/inputs, readable by its unprivileged user."""

        async def fill(folder: Path) -> None:
            for name, stored in _unique_names(files).items():
                chunks = await self.storage.read(FileStorage.blob_key(stored.sha256))
                path = folder / name
                with path.open("wb") as out:
                    async for chunk in chunks:
                        out.write(chunk)
                path.chmod(0o644)

        return fill

    async def collect(
        self,
        outputs: IO[bytes],
        *,
        owner: uuid.UUID,
        team: uuid.UUID | None,
        run_id: uuid.UUID | None,
        task_id: uuid.UUID | None,
        limits: OutputLimits,
    ) -> Collected:
        """The regular files of a run's /work/outputs (a tar stream its sandbox wrote: untrusted) stored as its
        outputs, within the limits. Links, devices and folders are skipped by name; past a limit, or the owner's
        quota, the rest is left and `truncated` says so."""
        collected = Collected(artifacts=[], truncated=False, skipped=[])
        total = 0
        try:
            with tarfile.open(fileobj=outputs, mode="r|") as tar:
                for member in tar:
                    if not member.isreg() or member.size == 0:
                        if not member.isdir():
                            collected.skipped.append(artifact_name(member.name))
                        continue
                    too_many = len(collected.artifacts) >= limits.max_files
                    if (
                        too_many
                        or total + member.size > limits.max_bytes
                        or member.size > self.settings.files_max_bytes
                    ):
                        collected.truncated = True
                        if too_many:
                            break
                        continue
                    extracted = tar.extractfile(member)
                    assert extracted is not None  # a regular file
                    name = artifact_name(member.name)
                    stored = await self.store(
                        owner=owner,
                        team=team,
                        name=name,
                        media_type=_media_type(None, name),
                        chunks=_read_chunks(extracted),
                        kind="output",
                        run_id=run_id,
                        task_id=task_id,
                    )
                    total += stored.size
                    collected.artifacts.append(FileResponse.model_validate(stored))
        except (tarfile.TarError, EOFError, OSError):
            collected.truncated = True  # the stream was cut (a limit) or is not a tar stream: what came is kept
        except PayloadTooLargeError:
            collected.truncated = True  # the owner's quota is full
        return collected

    # --- storing --------------------------------------------------------------------------------------

    async def store(
        self,
        *,
        owner: uuid.UUID,
        team: uuid.UUID | None = None,
        name: str,
        media_type: str,
        chunks: AsyncIterable[bytes],
        kind: FileKind,
        run_id: uuid.UUID | None = None,
        task_id: uuid.UUID | None = None,
    ) -> StoredFile:
        """Streams the bytes to a staging object, then, holding the owner's and the content's locks, checks the
        quota again, adds the row and renames the staging object onto its blob (in the session's transaction)."""
        room, quota_bound = await self._room(owner)
        counted = _Counted(chunks, room=room, quota_bound=quota_bound)
        staging = FileStorage.staging_key()
        await self.storage.put(staging, counted)  # an error inside leaves nothing stored
        try:
            if counted.size == 0:
                raise UnprocessableError("The file is empty", code="empty_file")
            sha256 = counted.hash.hexdigest()
            await repository.lock_owner(self.session, owner)
            room, quota_bound = await self._room(owner)
            if counted.size > room:
                raise _too_large(quota_bound=quota_bound, room=room)
            await repository.lock_content(self.session, sha256)
            ttl = self.settings.files_ttl_hours
            stored = await repository.add_file(
                self.session,
                StoredFile(
                    id=uuid.uuid4(),
                    owner_id=owner,
                    team_id=team,
                    run_id=run_id,
                    task_id=task_id,
                    name=name,
                    media_type=media_type,
                    size=counted.size,
                    sha256=sha256,
                    kind=kind,
                    expires_at=datetime.now(UTC) + timedelta(hours=ttl) if ttl else None,
                ),
            )
            await self.storage.rename(staging, FileStorage.blob_key(sha256))
        except BaseException:
            await self.storage.delete(staging)
            raise
        return stored

    async def _room(self, owner: uuid.UUID) -> tuple[int, bool]:
        """How many bytes the owner's next file may have, and whether the quota (not the file limit) bounds it."""
        left = self.settings.files_quota_bytes - await repository.bytes_used(self.session, owner)
        return (left, True) if left < self.settings.files_max_bytes else (self.settings.files_max_bytes, False)

    async def _check_room(self, owner: uuid.UUID, *, at_least: int) -> None:
        """413 before a byte is read when the declared length alone cannot fit."""
        room, quota_bound = await self._room(owner)
        if at_least > room:
            raise _too_large(quota_bound=quota_bound, room=max(room, 0))

    async def _head(self, stored: StoredFile) -> str:
        text = b""
        async for chunk in await self.storage.read(
            FileStorage.blob_key(stored.sha256), end=min(HEAD_BYTES, stored.size)
        ):
            text += chunk
        return "\n".join(text.decode("utf-8", errors="replace").splitlines()[:HEAD_LINES])


async def purge_expired(sessions: async_sessionmaker[AsyncSession], storage: FileStorage, *, batch: int = 500) -> int:
    """Deletes the files past their expiry, and each blob no file uses any more; then the staging objects of
    uploads whose process died. How many files went."""
    async with sessions() as session:
        expired = await repository.expired_files(session, now=datetime.now(UTC), limit=batch)
        await session.commit()
    for sha256 in sorted({sha for _, sha in expired}):
        async with sessions() as session:  # one lock at a time: a store holding several cannot deadlock with it
            await repository.lock_content(session, sha256)
            if not await repository.content_in_use(session, sha256):
                await storage.delete(FileStorage.blob_key(sha256))
            await session.commit()
    for key in await storage.stale_staging(older_than=STALE_STAGING):
        await storage.delete(key)
    return len(expired)


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """One byte range of `Range: bytes=...` as (start, end exclusive); None for the whole file (no header, or
    several ranges, which a server may answer whole). 416 when it lies outside the file."""
    if not header:
        return None
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, dash, last = spec.strip().partition("-")
    if (
        not dash
        or not (first.isdigit() or last.isdigit())
        or (first and not first.isdigit())
        or (last and not last.isdigit())
    ):
        raise RangeNotSatisfiableError("Malformed Range header", headers={"Content-Range": f"bytes */{size}"})
    if not first:  # the last N bytes
        start, end = max(size - int(last), 0), size
    else:
        start, end = int(first), min(int(last) + 1, size) if last else size
    if start >= size or start >= end:
        raise RangeNotSatisfiableError(
            "The range lies outside the file", details={"size": size}, headers={"Content-Range": f"bytes */{size}"}
        )
    return start, end


def _unique_names(files: list[StoredFile]) -> dict[str, StoredFile]:
    """Each input file under its own name; a second file of the same name gets its id's start added."""
    named: dict[str, StoredFile] = {}
    for stored in files:
        name = stored.name
        if name in named:
            stem, dot, extension = name.rpartition(".")
            name = f"{stem}-{str(stored.id)[:8]}.{extension}" if dot and stem else f"{name}-{str(stored.id)[:8]}"
        named[name] = stored
    return named


async def _read_chunks(source: IO[bytes]) -> AsyncIterator[bytes]:
    while chunk := source.read(CHUNK_BYTES):
        yield chunk
