"""Schedules and webhooks on two agent-orchestrator processes sharing one Postgres.

Firing precision: 1,000 schedules due at the same instant, against single schedules due one at a time, measured in
the same run (the baseline: what one due schedule costs, mostly the poll interval). Reported: P50/P99 of the delay
from the slot to the run's creation, and that every slot fired exactly once.

Delivery latency: a run ends with 1,000 webhook subscriptions to run.succeeded, against runs with one subscription,
in the same run. Reported: P50/P99 from the run's end (its finished_at) to the receiver getting the signed POST.

The template is a hand-written plan of one no-op task: no LLM is called. Slots are set in the database, so nothing
waits for a real minute.

    python -m benchmarks.automation [--schedules 1000] [--subscriptions 1000] [--single 20]
"""

import argparse
import asyncio
import json
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import uvicorn
from fastapi import FastAPI, Request, Response

from benchmarks.common import backends, percentile, service_process
from benchmarks.gateway import SECRETS
from benchmarks.orchestrator import insert_user
from services.agent_orchestrator.events import asyncpg_dsn
from shared.identity import Identity, sign_identity
from tests.support import free_port

NOOP_PLAN = [{"id": "noop", "name": "noop", "agent_role": "executor", "tool": "noop", "depends_on": []}]


class Orchestrator:
    """Signed calls to one orchestrator process as one user."""

    def __init__(self, url: str, user_id: uuid.UUID) -> None:
        self.identity = Identity(user_id=str(user_id), username="bench", role="user", auth_method="jwt")
        self.http = httpx.Client(base_url=url, timeout=60)

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = self.http.post(path, json=body, headers=sign_identity(self.identity, SECRETS["INTERNAL_SECRET"]))
        response.raise_for_status()
        answer: dict[str, Any] = response.json()
        return answer


@contextmanager
def receiver() -> Iterator[tuple[str, dict[str, list[float]]]]:
    """A webhook receiver: the wall-clock times each run's run.succeeded deliveries arrived, by run id."""
    arrivals: dict[str, list[float]] = {}
    app = FastAPI()

    @app.post("/hook")
    async def hook(request: Request) -> Response:
        arrived = time.time()
        payload = json.loads(await request.body())
        arrivals.setdefault(payload["data"]["run_id"], []).append(arrived)
        return Response(status_code=204)

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}/hook", arrivals
    finally:
        server.should_exit = True
        thread.join(timeout=10)


async def set_slots(dsn: str, slots: dict[str, datetime]) -> None:
    connection = await asyncpg.connect(dsn)
    try:
        await connection.executemany(
            "UPDATE schedules SET paused = false, next_slot_at = $2, next_fire_at = $2 WHERE id = $1",
            [(uuid.UUID(s), at) for s, at in slots.items()],
        )
    finally:
        await connection.close()


async def pause_all(dsn: str) -> None:
    """No schedule fires again (each would at its next minute): the next phase measures alone."""
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute("UPDATE schedules SET paused = true")
    finally:
        await connection.close()


async def fired_runs(dsn: str, slots: dict[str, datetime]) -> list[tuple[str, datetime]]:
    """(schedule, run created_at) for each run fired for the slot the benchmark set (a schedule still firing when
    its next minute comes fires that slot too: not counted)."""
    connection = await asyncpg.connect(dsn)
    try:
        rows = await connection.fetch(
            "SELECT e.schedule_id, e.slot_at, r.started_at FROM schedule_events e JOIN runs r ON r.id = e.run_id "
            "WHERE e.kind = 'fired' AND e.schedule_id = ANY($1::uuid[])",
            [uuid.UUID(s) for s in slots],
        )
    finally:
        await connection.close()
    return [(str(r["schedule_id"]), r["started_at"]) for r in rows if r["slot_at"] == slots[str(r["schedule_id"])]]


def fire_at_once(dsn: str, schedule_ids: list[str], *, lead: float, timeout: float = 300) -> tuple[list[float], int]:
    """Every schedule's slot set to one instant `lead` s ahead; the delays (ms) from it to each run's creation."""
    slot = datetime.now(UTC) + timedelta(seconds=lead)
    asyncio.run(set_slots(dsn, dict.fromkeys(schedule_ids, slot)))
    return _collect(dsn, schedule_ids, dict.fromkeys(schedule_ids, slot), timeout)


def fire_one_at_a_time(dsn: str, schedule_ids: list[str], *, lead: float, spacing: float) -> tuple[list[float], int]:
    start = datetime.now(UTC) + timedelta(seconds=lead)
    slots = {s: start + timedelta(seconds=i * spacing) for i, s in enumerate(schedule_ids)}
    asyncio.run(set_slots(dsn, slots))
    return _collect(dsn, schedule_ids, slots, timeout=lead + spacing * len(schedule_ids) + 60)


def _collect(dsn: str, schedule_ids: list[str], slots: dict[str, datetime], timeout: float) -> tuple[list[float], int]:
    deadline = time.monotonic() + timeout
    while len(runs := asyncio.run(fired_runs(dsn, slots))) < len(schedule_ids):
        if time.monotonic() > deadline:
            raise SystemExit(f"only {len(runs)} of {len(schedule_ids)} schedules fired in {timeout} s")
        time.sleep(0.5)
    time.sleep(3)  # a second firing of any slot would show by now
    asyncio.run(pause_all(dsn))
    runs = asyncio.run(fired_runs(dsn, slots))
    delays = [(created - slots[s]).total_seconds() * 1000 for s, created in runs]
    return delays, len(runs)


async def finished_at(dsn: str, run_id: str, timeout: float = 120) -> float:
    connection = await asyncpg.connect(dsn)
    try:
        deadline = time.monotonic() + timeout
        while True:
            row = await connection.fetchrow("SELECT status, finished_at FROM runs WHERE id = $1", uuid.UUID(run_id))
            if row["finished_at"] is not None:
                assert row["status"] == "succeeded", row
                return float(row["finished_at"].timestamp())
            if time.monotonic() > deadline:
                raise SystemExit(f"run {run_id} did not finish")
            await asyncio.sleep(0.05)
    finally:
        await connection.close()


def delivery_latencies(
    orchestrator: Orchestrator, dsn: str, template_id: str, arrivals: dict[str, list[float]], *, runs: int, expect: int
) -> list[float]:
    """Runs of the template one after another; for each, the ms from its end to each delivery's arrival."""
    latencies: list[float] = []
    for _ in range(runs):
        run_id = orchestrator.post(f"/templates/{template_id}/runs", {})["id"]
        ended = asyncio.run(finished_at(dsn, run_id))
        deadline = time.monotonic() + 120
        while len(arrivals.get(run_id, [])) < expect:
            if time.monotonic() > deadline:
                raise SystemExit(f"{len(arrivals.get(run_id, []))} of {expect} deliveries arrived")
            time.sleep(0.02)
        latencies += [(arrived - ended) * 1000 for arrived in arrivals[run_id]]
    return latencies


def line(label: str, samples: list[float]) -> str:
    return (
        f"   {label:<34} p50={percentile(samples, 50):8.1f} ms  p99={percentile(samples, 99):8.1f} ms  n={len(samples)}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--schedules", type=int, default=1000)
    parser.add_argument("--subscriptions", type=int, default=1000)
    parser.add_argument("--single", type=int, default=20, help="baseline samples: schedules one at a time, runs")
    args = parser.parse_args()

    with backends() as urls, receiver() as (hook_url, arrivals), ExitStack() as stack:
        dsn = asyncpg_dsn(urls["DATABASE_URL"])
        user_id = uuid.uuid4()

        async def add_user() -> None:
            connection = await asyncpg.connect(dsn)
            try:
                await insert_user(connection, user_id)
            finally:
                await connection.close()

        asyncio.run(add_user())
        env = {
            **urls,
            **SECRETS,
            "LOCAL_LLM_ENABLED": "false",
            "DATABASE_POOL_SIZE": "20",
            "WEBHOOKS_PER_USER": str(args.subscriptions),
            "WEBHOOK_ALLOWED_PRIVATE_ADDRESSES": '["127.0.0.1"]',
        }
        planner = stack.enter_context(service_process("task_planner", env))
        urls_of = [
            stack.enter_context(service_process("agent_orchestrator", {**env, "TASK_PLANNER_URL": planner}))
            for _ in range(2)
        ]
        orchestrator = Orchestrator(urls_of[0], user_id)
        template = orchestrator.post(
            "/templates", {"name": "bench", "goal": "A benchmark run", "plan": NOOP_PLAN, "summarize": False}
        )

        def schedules(count: int) -> list[str]:
            body = {"template_id": template["id"], "cron": "*/1 * * * *", "overlap": "allow_all", "paused": True}
            return [
                orchestrator.post("/schedules", {**body, "name": f"s{uuid.uuid4().hex[:12]}"})["id"]
                for _ in range(count)
            ]

        print(f"benchmark: schedule firing, 2 orchestrator processes (poll every 1 s), {datetime.now(UTC):%Y-%m-%d}")
        single, single_count = fire_one_at_a_time(dsn, schedules(args.single), lead=3, spacing=1.3)
        many_ids = schedules(args.schedules)
        many, many_count = fire_at_once(dsn, many_ids, lead=5)
        print(line(f"1 schedule due at a time (x{args.single})", single))
        print(line(f"{args.schedules} schedules due at once", many))
        print(
            f"   runs made: {single_count} for {args.single} slots, {many_count} for {args.schedules} slots "
            f"(exactly once: {'yes' if (single_count, many_count) == (args.single, args.schedules) else 'NO'})"
        )
        print(
            f"   ratio at once / one at a time: p50 x{percentile(many, 50) / percentile(single, 50):.2f}  "
            f"p99 x{percentile(many, 99) / percentile(single, 99):.2f}"
        )

        print("benchmark: webhook delivery from a run's end, 2 dispatchers (poll every 0.5 s, 16 sends at once each)")
        one = orchestrator.post("/webhooks", {"url": hook_url, "event_types": ["run.succeeded"]})
        alone = delivery_latencies(orchestrator, dsn, template["id"], arrivals, runs=args.single, expect=1)
        for _ in range(args.subscriptions - 1):
            orchestrator.post("/webhooks", {"url": hook_url, "event_types": ["run.succeeded"]})
        fanned = delivery_latencies(orchestrator, dsn, template["id"], arrivals, runs=3, expect=args.subscriptions)
        print(line(f"1 subscription (x{args.single} runs)", alone))
        print(line(f"{args.subscriptions} subscriptions (x3 runs)", fanned))
        print(
            f"   ratio: p50 x{percentile(fanned, 50) / percentile(alone, 50):.2f}  "
            f"p99 x{percentile(fanned, 99) / percentile(alone, 99):.2f}  (subscription {one['id'][:8]}... first)"
        )


if __name__ == "__main__":
    main()
