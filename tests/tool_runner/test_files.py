"""Files: upload, list, metadata, download (ranges), delete, quotas, expiry, on both storage backends (the local
filesystem and an S3-compatible server over HTTP)."""

import asyncio
import hashlib
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import timedelta

import httpx
import obstore
import pytest
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from services.tool_runner.config import ToolRunnerSettings
from services.tool_runner.files import purge_expired
from services.tool_runner.main import create_app
from services.tool_runner.storage import FileStorage, build_storage
from tests.support import ThreadedServer, assert_error, eventually, serving, sql_scalar
from tests.support.settings import tool_settings
from tests.support.users import make_user, signed_client

MB = 1024 * 1024
CSV = b"city,temperature\nParis,21\nLyon,24\n"


@dataclass
class Files:
    server: ThreadedServer
    settings: ToolRunnerSettings
    storage: FileStorage
    database_url: str

    def client(self) -> httpx.Client:
        return signed_client(make_user(self.database_url), base_url=self.server.url)

    def objects(self) -> list[str]:
        """Every object in the storage."""
        return sorted(meta["path"] for batch in obstore.list(self.storage.store) for meta in batch)


@pytest.fixture(scope="module", params=["local", "s3"])
def files(request: pytest.FixtureRequest, database_url: str, redis_url: str) -> Iterator[Files]:
    backend = request.getfixturevalue("s3_server").settings() if request.param == "s3" else {}
    settings = tool_settings(
        database_url,
        redis_url,
        files_max_bytes=2 * MB,
        files_quota_bytes=3 * MB,
        **backend,
    )
    with serving(create_app(settings)) as server:
        yield Files(server, settings, build_storage(settings), database_url)


def upload(
    client: httpx.Client, content: bytes = CSV, name: str = "data.csv", media_type: str = "text/csv"
) -> httpx.Response:
    return client.post("/files", files={"file": (name, content, media_type)})


def test_upload_lists_and_downloads_byte_identical(files: Files) -> None:
    with files.client() as client:
        made = upload(client)
        assert made.status_code == 201, made.text
        stored = made.json()
        assert stored["name"] == "data.csv" and stored["media_type"] == "text/csv" and stored["kind"] == "input"
        assert stored["size"] == len(CSV) and stored["sha256"] == hashlib.sha256(CSV).hexdigest()
        assert stored["expires_at"] is not None and stored["run_id"] is None
        assert client.get(f"/files/{stored['id']}").json() == stored
        assert stored["id"] in [f["id"] for f in client.get("/files").json()["items"]]
        got = client.get(f"/files/{stored['id']}/content")
        assert got.status_code == 200 and got.content == CSV
        assert got.headers["content-type"].startswith("text/csv")
        assert got.headers["content-disposition"] == "attachment; filename=\"data.csv\"; filename*=UTF-8''data.csv"
        assert got.headers["x-content-type-options"] == "nosniff"
        assert got.headers["accept-ranges"] == "bytes"


def test_range_requests_answer_the_bytes_asked_for(files: Files) -> None:
    with files.client() as client:
        file_id = upload(client).json()["id"]
        part = client.get(f"/files/{file_id}/content", headers={"Range": "bytes=5-15"})
        assert part.status_code == 206 and part.content == CSV[5:16]
        assert part.headers["content-range"] == f"bytes 5-15/{len(CSV)}"
        tail = client.get(f"/files/{file_id}/content", headers={"Range": "bytes=-6"})
        assert tail.status_code == 206 and tail.content == CSV[-6:]
        assert_error(client.get(f"/files/{file_id}/content", headers={"Range": "bytes=999-"}), 416)
        assert_error(client.get(f"/files/{file_id}/content", headers={"Range": "bytes=x-y"}), 416)


def test_another_users_file_is_404_everywhere(files: Files) -> None:
    with files.client() as owner, files.client() as stranger:
        file_id = upload(owner).json()["id"]
        assert_error(stranger.get(f"/files/{file_id}"), 404, "file_not_found")
        assert_error(stranger.get(f"/files/{file_id}/content"), 404, "file_not_found")
        assert_error(stranger.delete(f"/files/{file_id}"), 404, "file_not_found")
        assert_error(stranger.post("/files/describe", json={"ids": [file_id]}), 404, "file_not_found")
        assert file_id not in [f["id"] for f in stranger.get("/files").json()["items"]]
        assert owner.get(f"/files/{file_id}").status_code == 200


def test_equal_content_is_stored_once_and_deleted_with_its_last_file(files: Files) -> None:
    content = uuid.uuid4().bytes * 100
    blob = FileStorage.blob_key(hashlib.sha256(content).hexdigest())
    with files.client() as first, files.client() as second:
        one = upload(first, content, "a.bin", "application/octet-stream").json()["id"]
        two = upload(second, content, "b.bin", "application/octet-stream").json()["id"]
        assert files.objects().count(blob) == 1
        assert first.delete(f"/files/{one}").status_code == 204
        assert blob in files.objects() and second.get(f"/files/{two}/content").content == content
        assert second.delete(f"/files/{two}").status_code == 204
        assert blob not in files.objects()
        assert_error(second.get(f"/files/{two}"), 404)


def test_quota_overrun_is_413_and_stores_nothing(files: Files) -> None:
    with files.client() as client:
        assert upload(client, b"x" * (2 * MB - 10), "big.bin").status_code == 201
        before = files.objects()
        # The declared length alone passes the quota: refused before a byte is read.
        assert_error(upload(client, b"y" * (2 * MB - 10), "more.bin"), 413, "quota_exceeded")

        def chunked() -> Iterator[bytes]:  # no Content-Length: refused while streaming
            boundary = b"b0undary"
            yield b"--" + boundary + b'\r\nContent-Disposition: form-data; name="file"; filename="s.bin"\r\n\r\n'
            for _ in range(24):
                yield b"z" * (64 * 1024)
            yield b"\r\n--" + boundary + b"--\r\n"

        streamed = client.post(
            "/files", content=chunked(), headers={"Content-Type": "multipart/form-data; boundary=b0undary"}
        )
        assert_error(streamed, 413, "quota_exceeded")
        assert files.objects() == before
        assert len(client.get("/files").json()["items"]) == 1


def test_a_file_past_the_size_limit_is_413(files: Files) -> None:
    with files.client() as client:
        assert_error(upload(client, b"x" * (2 * MB + 1), "huge.bin"), 413, "file_too_large")


def test_an_upload_cut_off_mid_stream_leaves_no_row_and_no_bytes(files: Files) -> None:
    owner = make_user(files.database_url)
    before = files.objects()
    with signed_client(owner, base_url=files.server.url) as client:
        request = client.build_request(
            "POST", "/files", headers={"Content-Type": "multipart/form-data; boundary=cut", "Content-Length": str(MB)}
        )
    head = b'--cut\r\nContent-Disposition: form-data; name="file"; filename="cut.bin"\r\n\r\n'
    lines = [f"POST /files HTTP/1.1\r\nHost: 127.0.0.1:{files.server.port}"]
    lines += [f"{k}: {v}" for k, v in request.headers.items() if k.lower() not in ("host", "content-length")]
    lines.append(f"Content-Length: {MB}")
    with socket.create_connection(("127.0.0.1", files.server.port)) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + head + b"q" * (300 * 1024))
        # Gone with most of the body unsent.
    rows = "SELECT count(*) FROM files WHERE owner_id = :o"
    eventually(lambda: files.objects() == before, failure=lambda: str(files.objects()))
    assert sql_scalar(files.database_url, rows, o=owner) == 0


@pytest.mark.parametrize(
    ("given", "stored"),
    [("../../etc/passwd", "passwd"), ("re\x00port.csv", "report.csv"), ("..", "file"), ("a\\b\\c.txt", "c.txt")],
)
def test_path_traversal_and_nul_in_a_name_are_sanitised(files: Files, given: str, stored: str) -> None:
    # Sent as raw bytes: httpx would percent-encode the NUL itself.
    body = (
        b'--n\r\nContent-Disposition: form-data; name="file"; filename="' + given.encode() + b'"\r\n'
        b"Content-Type: text/plain\r\n\r\nhello\r\n--n--\r\n"
    )
    with files.client() as client:
        made = client.post("/files", content=body, headers={"Content-Type": "multipart/form-data; boundary=n"})
        assert made.status_code == 201, made.text
        assert made.json()["name"] == stored


def test_bad_uploads_get_4xx_with_the_error_envelope(files: Files) -> None:
    with files.client() as client:
        assert_error(client.post("/files", json={"file": "x"}), 415, "unsupported_media_type")
        assert_error(upload(client, b""), 422, "empty_file")
        assert_error(client.post("/files", files={"other": ("x.txt", b"x")}), 422, "missing_file")
        assert_error(client.post("/files", data={"file": "not a file part"}, files={"x": ("", b"")}), 422)
        assert_error(upload(client, name="n" * 300 + ".csv"), 422, "name_too_long")
        assert_error(upload(client, media_type="not a type"), 422, "invalid_media_type")
        assert_error(client.get("/files", params={"cursor": "nonsense"}), 400, "invalid_cursor")


def test_an_expired_file_is_purged_with_its_bytes(files: Files) -> None:
    content = uuid.uuid4().bytes * 10
    with files.client() as client:
        file_id = upload(client, content, "old.bin").json()["id"]
        sql_scalar(
            files.database_url, "UPDATE files SET expires_at = now() - interval '1 minute' WHERE id = :i", i=file_id
        )

        async def purge() -> int:
            engine = create_async_engine(files.database_url)
            try:
                return await purge_expired(async_sessionmaker(engine, expire_on_commit=False), files.storage)
            finally:
                await engine.dispose()

        assert asyncio.run(purge()) >= 1
        assert_error(client.get(f"/files/{file_id}"), 404, "file_not_found")
        assert FileStorage.blob_key(hashlib.sha256(content).hexdigest()) not in files.objects()


def test_files_are_listed_a_page_at_a_time(files: Files) -> None:
    with files.client() as client:
        made = [upload(client, f"{i}".encode(), f"{i}.txt", "text/plain").json()["id"] for i in range(3)]
        first = client.get("/files", params={"limit": 2}).json()
        second = client.get("/files", params={"limit": 2, "cursor": first["next_cursor"]}).json()
        assert [f["id"] for f in first["items"] + second["items"]] == made[::-1]
        assert second["next_cursor"] is None
        assert client.get("/files", params={"kind": "output"}).json()["items"] == []


def test_stale_staging_objects_are_swept(files: Files) -> None:
    async def sweep() -> list[str]:
        key = FileStorage.staging_key()

        async def one() -> AsyncIterator[bytes]:
            yield b"left behind"

        await files.storage.put(key, one())
        return await files.storage.stale_staging(older_than=timedelta(seconds=-1))

    assert asyncio.run(sweep())


def test_a_non_ascii_name_downloads_under_its_own_name_with_an_ascii_fallback(files: Files) -> None:
    with files.client() as client:
        made = upload(client, b"bonjour", 'résumé "final".txt', "text/plain").json()
        assert made["name"] == "résumé final.txt"  # the quotes, sent as %22, are not kept
        disposition = client.get(f"/files/{made['id']}/content").headers["content-disposition"]
        assert disposition == "attachment; filename=\"r_sum_ final.txt\"; filename*=UTF-8''r%C3%A9sum%C3%A9%20final.txt"
