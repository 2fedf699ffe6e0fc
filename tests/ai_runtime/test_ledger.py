import httpx

from services.ai_runtime.main import create_app
from tests.support import serving
from tests.support.ledger import usage_rows
from tests.support.providers import Providers
from tests.support.settings import runtime_settings
from tests.support.users import identity_headers


def test_usage_is_written_off_the_response_path_and_not_lost_on_shutdown(
    database_url: str, redis_url: str, providers: Providers, user_id: str
) -> None:
    settings = runtime_settings(database_url, redis_url, providers, usage_flush_seconds=60)
    with serving(create_app(settings)) as server, httpx.Client(base_url=server.url, timeout=30) as client:
        for _ in range(3):
            assert (
                client.post(
                    "/complete", headers=identity_headers(user_id), json={"model": "gpt-4o-mini", "prompt": "x"}
                ).status_code
                == 200
            )
        assert usage_rows(database_url, user_id, expected=3, timeout=0) == []  # still batched in memory
    rows = usage_rows(database_url, user_id, expected=3, timeout=0)  # the shutdown drained the queue
    assert len(rows) == 3 and all(r.request_id for r in rows)
