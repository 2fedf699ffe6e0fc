"""A local S3-compatible server for the file storage's S3 backend: moto's server mode, which speaks the S3 wire
protocol over HTTP (signed requests, multipart uploads, ranges), started as its own process."""

import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests.support import eventually, free_port


@dataclass(frozen=True)
class S3Server:
    url: str

    def bucket(self) -> str:
        """A new, empty bucket."""
        name = f"files-{uuid.uuid4().hex[:12]}"
        assert httpx.put(f"{self.url}/{name}").status_code == 200
        return name

    def settings(self) -> dict[str, object]:
        """Tool-runner settings that store files in a new bucket of this server."""
        return {
            "files_storage": "s3",
            "files_s3_bucket": self.bucket(),
            "files_s3_endpoint": self.url,
            "files_s3_access_key_id": "testing",
            "files_s3_secret_access_key": "testing",
            "files_s3_allow_http": True,
        }


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"

    def answering() -> bool:
        try:
            return httpx.get(f"{url}/moto-api/", timeout=1).status_code < 500
        except httpx.HTTPError:
            return process.poll() is not None  # exited: the assertion below says so

    try:
        eventually(answering, timeout=60)
        assert process.poll() is None, "moto's S3 server did not start"
        yield S3Server(url)
    finally:
        process.terminate()
        process.wait(timeout=10)
