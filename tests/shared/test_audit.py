"""The audit log's chain on a database of its own: extended by two processes at once, verified, tampering found,
UPDATE and DELETE refused (by the trigger, and by grants for the services' own role), retention keeping the chain."""

import asyncio
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from cognitionos_cli.embedded import EmbeddedPostgres
from database.migrate import upgrade
from shared import audit
from shared.identity import Identity
from tests.support import sql_scalar

SCRATCH_DB = "cognitionos_audit_test"
ADMIN = Identity(user_id=str(uuid.uuid4()), username="root", role="admin", auth_method="jwt")


@pytest.fixture
def chain_url(embedded_postgres: EmbeddedPostgres) -> Iterator[str]:
    if embedded_postgres.server is None:
        pytest.skip("needs the embedded server to create a scratch database")
    embedded_postgres.server.psql(
        f'DROP DATABASE IF EXISTS "{SCRATCH_DB}" WITH (FORCE); CREATE DATABASE "{SCRATCH_DB}";'
    )
    url = embedded_postgres.database_url.replace("/cognitionos_test?", f"/{SCRATCH_DB}?")
    upgrade(url)
    yield url


def verify(url: str) -> audit.Verification:
    async def check() -> audit.Verification:
        engine = create_async_engine(url)
        async with async_sessionmaker(engine)() as session:
            result = await audit.verify(session, batch=97)  # pages of a size that does not divide the count
        await engine.dispose()
        return result

    return asyncio.run(check())


def as_superuser_without_the_trigger(url: str, statement: str) -> None:
    """What an attacker with the database's superuser could do: switch the trigger off, change a row, switch it on."""
    sql_scalar(url, "ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only")
    sql_scalar(url, statement)
    sql_scalar(url, "ALTER TABLE audit_events ENABLE TRIGGER audit_events_append_only")


def write(url: str, count: int) -> None:
    subprocess.run([sys.executable, "-m", "tests.support.audit_writer", url, str(count)], check=True, timeout=300)


def test_two_processes_extend_one_chain_that_verifies(chain_url: str) -> None:
    writers = [
        subprocess.Popen([sys.executable, "-m", "tests.support.audit_writer", chain_url, "500"]) for _ in range(2)
    ]
    assert [w.wait(timeout=300) for w in writers] == [0, 0]
    assert verify(chain_url) == audit.Verification(ok=True, checked=1000, first_broken_id=None)
    assert sql_scalar(chain_url, "SELECT count(DISTINCT (actor_user_id, target_id)) FROM audit_events") == 1000
    assert sql_scalar(chain_url, "SELECT max(id) FROM audit_events") == 1000


def test_tampering_with_one_row_is_found_and_named(chain_url: str) -> None:
    write(chain_url, 30)
    as_superuser_without_the_trigger(chain_url, "UPDATE audit_events SET details = '{\"n\": 999}' WHERE id = 17")
    broken = verify(chain_url)
    assert (broken.ok, broken.first_broken_id, broken.checked) == (False, 17, 16)
    assert broken.reason == "its content does not hash to its hash"


def test_a_deleted_row_in_the_middle_is_a_gap(chain_url: str) -> None:
    write(chain_url, 10)
    as_superuser_without_the_trigger(chain_url, "DELETE FROM audit_events WHERE id = 4")
    broken = verify(chain_url)
    assert (broken.ok, broken.first_broken_id) == (False, 5)


def test_update_delete_and_truncate_are_refused_even_to_the_owner(chain_url: str) -> None:
    write(chain_url, 3)
    for statement in (
        "UPDATE audit_events SET action = 'nothing.happened' WHERE id = 2",
        "DELETE FROM audit_events WHERE id = 2",
        "TRUNCATE audit_events",
    ):
        with pytest.raises(DBAPIError, match="append-only"):
            sql_scalar(chain_url, statement)
    assert verify(chain_url).ok


def test_the_services_role_has_no_grant_to_update_or_delete(chain_url: str) -> None:
    """Run as production should: a role that may read and write the tables but owns none of them."""
    role = f"app_{uuid.uuid4().hex[:8]}"
    for statement in (
        f"CREATE ROLE {role} LOGIN PASSWORD 'app-pass'",
        f"GRANT SELECT, INSERT ON ALL TABLES IN SCHEMA public TO {role}",
        f"GRANT EXECUTE ON FUNCTION audit_purge(timestamptz) TO {role}",
    ):
        sql_scalar(chain_url, statement)
    write(chain_url, 2)
    as_app = _with_user(chain_url, role, "app-pass")
    for statement in ("UPDATE audit_events SET action = 'x' WHERE id = 1", "DELETE FROM audit_events WHERE id = 1"):
        with pytest.raises(DBAPIError, match="permission denied"):
            sql_scalar(as_app, statement)
    write(as_app, 2)  # it appends
    assert sql_scalar(as_app, "SELECT audit_purge(now() + interval '1 second')") == 4  # retention, through the function
    assert verify(chain_url) == audit.Verification(ok=True, checked=0, first_broken_id=None)


def _with_user(url: str, user: str, password: str) -> str:
    scheme, _, rest = url.partition("://")
    host_part = rest.split("@", 1)[-1]
    return f"{scheme}://{user}:{password}@{host_part}"


def test_retention_keeps_the_chain_verifiable_from_its_new_start(chain_url: str) -> None:
    write(chain_url, 20)
    cut = datetime.now(UTC) + timedelta(seconds=1)

    async def purge_then_write() -> int:
        engine = create_async_engine(chain_url)
        async with async_sessionmaker(engine)() as session:
            purged = await audit.purge_before(session, cut)
            await session.commit()
            await audit.record(session, ADMIN, "test.after_purge", target_type="test", target_id="x")
            await session.commit()
        await engine.dispose()
        return purged

    assert asyncio.run(purge_then_write()) == 20
    assert sql_scalar(chain_url, "SELECT last_purged_id FROM audit_anchor") == 20
    assert verify(chain_url) == audit.Verification(ok=True, checked=1, first_broken_id=None)
    assert sql_scalar(chain_url, "SELECT id FROM audit_events") == 21


def test_a_rolled_back_change_leaves_no_event_and_no_hole(chain_url: str) -> None:
    async def roll_back_one() -> None:
        engine = create_async_engine(chain_url)
        async with async_sessionmaker(engine)() as session:
            await audit.record(session, ADMIN, "test.rolled_back", target_type="test", target_id="gone")
            await session.rollback()
        await engine.dispose()

    asyncio.run(roll_back_one())
    write(chain_url, 2)
    assert sql_scalar(chain_url, "SELECT string_agg(id::text, ',' ORDER BY id) FROM audit_events") == "1,2"
    assert verify(chain_url).ok


def test_secrets_never_enter_the_details() -> None:
    given = {
        "name": "ci",
        "key": "cos_live_abc",
        "key_hash": "f00",
        "password": "hunter2",
        "webhook_secret": "whsec_x",
        "headers": {"Authorization": "Bearer t"},
        "nested": [{"access_token": "t", "refresh_token": "r"}],
        "api_key_id": "kept",
        "daily_tokens": 10,
    }
    shown = audit.redact(given)
    assert shown["name"] == "ci" and shown["api_key_id"] == "kept" and shown["daily_tokens"] == 10
    for secret in ("cos_live_abc", "f00", "hunter2", "whsec_x", "Bearer t"):
        assert secret not in str(shown)
