"""Where file bytes live: one small interface over obstore, whose stores cover the local filesystem (the embedded
default, under the state directory) and any S3-compatible object store (AWS S3, MinIO, Ceph, R2) with one API.

Blobs are named by their SHA-256 (`blobs/ab/abcdef...`): equal content is stored once. An upload streams to a
staging name first (`uploads/<uuid>`), since its hash is known only at its end, and is then renamed onto its blob.
A put that fails midway (the client went, a limit was passed) leaves nothing: obstore removes a local staging file
and aborts an S3 multipart upload."""

import contextlib
import uuid
from collections.abc import AsyncIterable, AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import obstore
from obstore.store import LocalStore, S3Store

from services.tool_runner.config import ToolRunnerSettings

CHUNK_BYTES = 1024 * 1024
STAGING_PREFIX = "uploads/"


class FileStorage:
    def __init__(self, store: LocalStore | S3Store, *, backend: str) -> None:
        self.store = store
        self.backend = backend  # "local" or "s3", for health and logs

    @staticmethod
    def blob_key(sha256: str) -> str:
        return f"blobs/{sha256[:2]}/{sha256}"

    @staticmethod
    def staging_key() -> str:
        return f"{STAGING_PREFIX}{uuid.uuid4().hex}"

    async def put(self, key: str, chunks: AsyncIterable[bytes]) -> None:
        """Stores the chunks under `key`; an exception raised by `chunks` propagates and stores nothing."""
        await obstore.put_async(self.store, key, chunks, chunk_size=5 * CHUNK_BYTES)

    async def rename(self, source: str, target: str) -> None:
        """Moves `source` onto `target`, replacing it (the same SHA-256: the same bytes)."""
        await obstore.rename_async(self.store, source, target, overwrite=True)

    async def delete(self, key: str) -> None:
        """Gone, whether or not it was there."""
        with contextlib.suppress(FileNotFoundError):
            await obstore.delete_async(self.store, key)

    async def read(self, key: str, *, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        """The bytes of `key` from `start` up to `end` (exclusive; None: to the end), in chunks. FileNotFoundError
        when it is missing (raised here, before the caller starts to answer)."""
        options = {"range": (start, end)} if end is not None else ({"range": {"offset": start}} if start else {})
        result = await obstore.get_async(self.store, key, options=options)  # type: ignore[arg-type]
        return _chunks(result.stream(min_chunk_size=CHUNK_BYTES))

    async def stale_staging(self, *, older_than: timedelta) -> list[str]:
        """Staging objects older than `older_than`: uploads whose process died before they were renamed."""
        cutoff = datetime.now(UTC) - older_than
        stale: list[str] = []
        async for batch in obstore.list(self.store, prefix=STAGING_PREFIX):
            stale += [meta["path"] for meta in batch if meta["last_modified"] < cutoff]
        return stale


async def _chunks(stream: AsyncIterator[object]) -> AsyncIterator[bytes]:
    async for chunk in stream:
        yield bytes(chunk)  # type: ignore[call-overload]


def build_storage(settings: ToolRunnerSettings) -> FileStorage:
    if settings.files_storage == "s3":
        if not settings.files_s3_bucket:
            raise ValueError("FILES_STORAGE=s3 needs FILES_S3_BUCKET")
        secret = settings.files_s3_secret_access_key
        store = S3Store(
            settings.files_s3_bucket,
            prefix=settings.files_s3_prefix or None,
            endpoint=settings.files_s3_endpoint or None,  # "" (compose's unset) too: AWS itself
            region=settings.files_s3_region,
            access_key_id=settings.files_s3_access_key_id or None,
            secret_access_key=secret.get_secret_value() or None if secret is not None else None,
            virtual_hosted_style_request=False,
            client_options={"allow_http": settings.files_s3_allow_http},
        )
        return FileStorage(store, backend="s3")
    root = Path(settings.files_dir).expanduser()
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    return FileStorage(LocalStore(root), backend="local")
