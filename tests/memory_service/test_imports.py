"""Bulk import: staged in chunks, committed in one transaction, deduplicated like single stores (against stored
memories and within the file), the vector index rebuilt in bulk for a large load, and loads resumed after a crash."""

import asyncio
import json
import logging
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import asyncpg
import numpy as np
import pytest
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from services.memory_service.imports.repository import INDEX_LOCK_KEY, drop_vector_index
from services.memory_service.imports.runner import RESUME_AFTER_SECONDS, ImportLoader
from services.memory_service.main import create_app as create_memory
from tests.support import ThreadedServer, assert_error, eventually, serving, sql_scalar
from tests.support.settings import memory_settings
from tests.support.users import Caller, make_user


def jsonl(rows: list[dict[str, Any]]) -> bytes:
    return "\n".join(json.dumps(row) for row in rows).encode()


def finished(caller: Caller, import_id: str, timeout: float = 60) -> dict[str, Any]:
    def ended() -> dict[str, Any] | None:
        job = caller.client.get(f"/memories/imports/{import_id}").json()
        return job if job["status"] in ("done", "failed") else None

    return eventually(ended, timeout=timeout, every=0.05, failure=lambda: f"import {import_id} never ended")


def import_body(caller: Caller, rows: list[dict[str, Any]]) -> dict[str, Any]:
    response = caller.client.post(
        "/memories/import", content=jsonl(rows), headers={"content-type": "application/x-ndjson"}
    )
    assert response.status_code == 202, response.text
    return finished(caller, response.json()["id"])


def index_state(database_url: str) -> object:
    return sql_scalar(
        database_url,
        "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
        "WHERE c.relname = 'ix_memories_embedding_hnsw'",
    )


def test_import_deduplicates_against_stored_memories_and_within_the_file(alice: Caller) -> None:
    stored = alice.remember("The user lives in Lisbon", metadata={"origin": "chat"})
    job = import_body(
        alice,
        [
            {"content": "The user lives in Lisbon.", "metadata": {"origin": "import"}, "confidence": 0.9},
            {"content": "The user's cat is called Miso", "memory_type": "fact"},
            {"content": "The user's cat is called Miso."},
            {"content": "Deployments happen every Tuesday after the standup", "memory_type": "pattern"},
        ],
    )
    assert (job["status"], job["rows_staged"], job["imported"], job["deduplicated"]) == ("done", 4, 2, 2)
    assert job["index_rebuilt"] is False  # four rows next to everything the suite stored: inserted into the index

    lisbon = alice.client.get(f"/memories/{stored['id']}").json()
    assert lisbon["access_count"] == 1 and lisbon["metadata"] == {"origin": "import"}
    assert [h["event"] for h in alice.client.get(f"/memories/{stored['id']}/history").json()] == ["ADD", "MERGE"]
    cats = [m for m in alice.retrieve("What is the cat's name?", k=10) if "Miso" in m["content"]]
    assert len(cats) == 1 and cats[0]["access_count"] in (1, 2)  # the repeat, and maybe this search's own count
    assert alice.retrieve("When do deployments happen?", k=1)[0]["memory_type"] == "pattern"


def test_import_in_chunks_then_commit(alice: Caller) -> None:
    job = alice.client.post("/memories/imports").json()
    assert job["status"] == "open"
    for chunk in (["Alpha project kickoff is in March"], ["Beta users asked for dark mode", "Gamma is on hold"]):
        staged = alice.client.post(
            f"/memories/imports/{job['id']}/rows", content=jsonl([{"content": text} for text in chunk])
        )
        assert staged.status_code == 200, staged.text
    assert staged.json()["rows_staged"] == 3
    assert alice.client.post(f"/memories/imports/{job['id']}/commit").status_code == 202
    assert finished(alice, job["id"])["imported"] == 3
    assert "dark mode" in alice.retrieve("What did beta users ask for?", k=1)[0]["content"]

    assert_error(alice.client.post(f"/memories/imports/{job['id']}/commit"), 409, "import_closed")
    assert_error(alice.client.post(f"/memories/imports/{job['id']}/rows", content=jsonl([{"content": "x"}])), 409)
    empty = alice.client.post("/memories/imports").json()
    assert_error(alice.client.post(f"/memories/imports/{empty['id']}/commit"), 400, "import_empty")


def test_an_invalid_line_stages_nothing_and_names_the_line(alice: Caller) -> None:
    job = alice.client.post("/memories/imports").json()
    body = b'{"content": "fine"}\n{"content": ""}\nnot json\n'
    error = assert_error(alice.client.post(f"/memories/imports/{job['id']}/rows", content=body), 400)
    assert error["code"] == "invalid_import_rows"
    assert [e["line"] for e in error["details"]["errors"]] == [2, 3]
    assert alice.client.get(f"/memories/imports/{job['id']}").json()["rows_staged"] == 0
    wrong_size = jsonl([{"content": "short vector", "embedding": [0.1, 0.2]}])
    assert_error(alice.client.post(f"/memories/imports/{job['id']}/rows", content=wrong_size), 400, "bad_embedding")


def test_attack_import_cannot_write_as_another_user_or_touch_their_import(alice: Caller, bob: Caller) -> None:
    job = import_body(bob, [{"content": "Bob planted this in Alice's memories", "user_id": alice.user_id}])
    assert job["imported"] == 1
    assert all("planted" not in m["content"] for m in alice.retrieve("planted memories", k=20))
    assert any("planted" in m["content"] for m in bob.retrieve("planted memories", k=20))

    assert_error(
        bob.client.post("/memories/import", content=jsonl([{"content": "Company news", "scope": "global"}])), 403
    )
    mine = alice.client.post("/memories/imports").json()
    assert_error(bob.client.get(f"/memories/imports/{mine['id']}"), 404)
    assert_error(bob.client.post(f"/memories/imports/{mine['id']}/rows", content=jsonl([{"content": "x"}])), 404)
    assert_error(bob.client.post(f"/memories/imports/{mine['id']}/commit"), 404)


def test_attack_staging_flood_is_capped_per_user(bob: Caller) -> None:
    opened = [bob.client.post("/memories/imports") for _ in range(5)]
    assert all(r.status_code == 201 for r in opened)
    assert_error(bob.client.post("/memories/imports"), 409, "too_many_imports")
    assert_error(bob.client.post("/memories/import", content=jsonl([{"content": "one more"}])), 409)
    # Discarding one (with its staged rows) frees a place; a committed import cannot be discarded.
    first = opened[0].json()["id"]
    bob.client.post(f"/memories/imports/{first}/rows", content=jsonl([{"content": "Staged, then discarded"}]))
    assert bob.client.delete(f"/memories/imports/{first}").status_code == 204
    assert_error(bob.client.get(f"/memories/imports/{first}"), 404)
    job = import_body(bob, [{"content": "Bob's one more import"}])
    assert_error(bob.client.delete(f"/memories/imports/{job['id']}"), 409, "import_closed")


def test_a_one_call_import_that_fails_to_stage_leaves_nothing_open(alice: Caller, database_url: str) -> None:
    refused = alice.client.post("/memories/import", content=jsonl([{"content": "x", "embedding": [0.5] * 384}] * 2))
    assert refused.status_code == 202  # a valid body: staged and committed
    wrong = jsonl([{"content": "a wrong-sized vector", "embedding": [0.5, 0.5]}])
    assert_error(alice.client.post("/memories/import", content=wrong), 400, "bad_embedding")
    unfinished = sql_scalar(
        database_url,
        "SELECT count(*) FROM memory_imports WHERE user_id = :u AND status = 'open'",
        u=alice.user_id,
    )
    assert unfinished == 0


def test_a_row_naming_a_missing_run_fails_the_import_and_loads_nothing(alice: Caller) -> None:
    job = import_body(
        alice,
        [
            {"content": "The orphanage roof was repaired in May"},
            {"content": "Quarterly tax filing is due next week", "run_id": str(uuid.uuid4())},
        ],
    )
    assert job["status"] == "failed" and "does not exist" in job["error"] and job["imported"] == 0
    assert all("orphanage" not in m["content"] for m in alice.retrieve("orphanage roof", k=20))


def test_a_load_left_by_a_dead_process_is_resumed(alice: Caller, database_url: str) -> None:
    job = alice.client.post("/memories/imports").json()
    alice.client.post(f"/memories/imports/{job['id']}/rows", content=jsonl([{"content": "Resumed after a crash"}]))
    # As if a process had accepted the commit and died before loading: the sweep picks the import up.
    sql_scalar(database_url, "UPDATE memory_imports SET status = 'committing' WHERE id = :id", id=job["id"])
    assert finished(alice, job["id"])["imported"] == 1


@pytest.fixture
def rebuilding_server(database_url: str, redis_url: str, embedding_runtime: ThreadedServer) -> Iterator[ThreadedServer]:
    """Every import here counts as large: the index is dropped and rebuilt in bulk."""
    settings = memory_settings(
        database_url,
        redis_url,
        embedding_runtime.url,
        import_rebuild_fraction=1e-6,
        import_rebuild_min_rows=1,
        import_index_memory="64MB",
    )
    with serving(create_memory(settings)) as server:
        yield server


def test_a_large_import_rebuilds_the_vector_index_in_bulk(rebuilding_server: ThreadedServer, database_url: str) -> None:
    caller = Caller(rebuilding_server.url, make_user(database_url))
    rng = np.random.default_rng(3)
    vectors = rng.normal(size=(300, 384)).astype(np.float32)
    rows = [{"content": f"bulk row {n}", "embedding": v.round(6).tolist()} for n, v in enumerate(vectors)]
    rows.append({"content": "bulk row 0 again", "embedding": rows[0]["embedding"]})
    job = import_body(caller, rows)
    assert (job["status"], job["imported"], job["deduplicated"], job["index_rebuilt"]) == ("done", 300, 1, True)
    assert index_state(database_url) is True
    found = caller.client.post("/memories/retrieve", json={"query_embedding": rows[7]["embedding"], "k": 1}).json()
    assert found[0]["content"] == "bulk row 7"
    caller.client.close()


def test_an_index_build_that_outgrows_its_memory_is_reported_to_the_operator(
    alice: Caller, database_url: str, redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """pgvector finishes a graph that outgrows maintenance_work_mem on disk, several times slower, and says so only
    in a notice: the operator is told which setting to raise. The build runs here under the index lock, so that no
    other memory-service process's sweep builds the dropped index first with its own memory."""
    vectors = np.random.default_rng(9).normal(size=(600, 384)).astype(np.float32)
    rows = [{"content": f"crowded row {n}", "embedding": v.round(6).tolist()} for n, v in enumerate(vectors)]
    assert import_body(alice, rows)["status"] == "done"  # the table now holds more than 1MB of graph (~450 rows)
    settings = memory_settings(database_url, redis_url, "http://127.0.0.1:9", import_index_memory="1MB")
    runner_log = logging.getLogger("services.memory_service.imports.runner")
    runner_log.addHandler(caplog.handler)  # on the logger itself: an app's logging setup replaces the root's handlers

    async def rebuild() -> None:
        engine = create_async_engine(database_url)
        loader = ImportLoader(engine=engine, sessionmaker=async_sessionmaker(engine), settings=settings)
        try:
            async with loader._holding(INDEX_LOCK_KEY, wait=True) as connection:
                assert connection is not None
                await drop_vector_index(connection)
                await loader._build_index(connection, invalid=False)
        finally:
            await engine.dispose()

    try:
        asyncio.run(rebuild())
    finally:
        runner_log.removeHandler(caplog.handler)
    assert index_state(database_url) is True
    warned = [r for r in caplog.records if "IMPORT_INDEX_MEMORY" in r.getMessage()]
    assert warned and "maintenance_work_mem" in warned[0].__dict__["notice"]


@contextmanager
def index_lock_held(database_url: str) -> Iterator[None]:
    """The vector-index lock held from another connection, as a process building the index holds it."""
    taken, release = threading.Event(), threading.Event()

    async def hold() -> None:
        connection = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://"))
        await connection.execute("SELECT pg_advisory_lock(hashtext('memory-vector-index'))")
        taken.set()
        await asyncio.get_running_loop().run_in_executor(None, release.wait)
        await connection.close()  # the lock ends with the session

    thread = threading.Thread(target=asyncio.run, args=(hold(),))
    thread.start()
    assert taken.wait(10)
    try:
        yield
    finally:
        release.set()
        thread.join()


def test_a_sweep_in_another_process_leaves_alone_an_import_this_one_is_loading(
    rebuilding_server: ThreadedServer, alice: Caller, database_url: str
) -> None:
    """The rebuilding process decides to rebuild, then waits for the index lock. Meanwhile the suite's other
    memory service sweeps for committing imports every 0.2 s: it must not load the import on its own terms
    (row by row into the index, reported as no rebuild), neither just after the commit nor later."""
    caller = Caller(rebuilding_server.url, make_user(database_url))
    vectors = np.random.default_rng(5).normal(size=(50, 384)).astype(np.float32)
    rows = [{"content": f"raced row {n}", "embedding": v.round(6).tolist()} for n, v in enumerate(vectors)]
    with index_lock_held(database_url):
        response = caller.client.post(
            "/memories/import", content=jsonl(rows), headers={"content-type": "application/x-ndjson"}
        )
        assert response.status_code == 202, response.text
        # Past the time a sweep leaves a fresh commit to its own process: the other process's sweeps now see the
        # import and must skip it because this one holds it.
        time.sleep(RESUME_AFTER_SECONDS + 1.0)
    job = finished(caller, response.json()["id"])
    assert (job["status"], job["imported"], job["index_rebuilt"]) == ("done", 50, True)
    assert index_state(database_url) is True
    caller.client.close()


def test_an_index_lost_mid_rebuild_is_built_again(alice: Caller, database_url: str) -> None:
    # A process that died between dropping the index and rebuilding it: the sweep notices and builds it.
    sql_scalar(database_url, "DROP INDEX ix_memories_embedding_hnsw")
    eventually(lambda: index_state(database_url) is True, timeout=60)
