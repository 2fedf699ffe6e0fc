"""A person in control, measured: how soon an approved tool call starts, and what a retry saves.

1. Approve -> start: a run of N independent `execute_python` tasks gated by require_approval; once all N wait, each
   is approved over HTTP, one after another. Reported: decision -> the task claimed again (the approval's
   `approval_decided` event to the resumed `task_started` event, database clock) P50/P99, and the decision call's
   own latency; baseline in the same run: ready -> claimed of the same N tasks in a run that asks for no approval.
2. Retry: a chain of 10 tasks whose first 9 ask the LLM (a local OpenAI-protocol server, priced as gpt-4o-mini)
   and whose last fails; retried with the last task's code fixed. Reported: LLM calls and dollars of the parent
   run and of the retry (what succeeded is copied, not asked again).

    python -m benchmarks.approvals [--approvals 100]
"""

import argparse
import asyncio
import json
import time
import uuid
from contextlib import ExitStack
from typing import Any

import asyncpg
import httpx

from benchmarks.common import backends, percentile, service_process, summary
from benchmarks.gateway import SECRETS
from benchmarks.orchestrator import store_plan
from services.agent_orchestrator.events import asyncpg_dsn
from shared.identity import Identity, sign_identity
from tests.support import serving
from tests.support.fake_providers import create_fake_openai


def code_tasks(count: int) -> list[dict[str, object]]:
    return [
        {
            "id": f"c{i}",
            "name": f"code {i}",
            "description": "",
            "agent_role": "executor",
            "tool": "execute_python",
            "inputs": {"code": f"print({i})"},
            "depends_on": [],
            "fallback_strategy": "fail",
        }
        for i in range(count)
    ]


def chain_failing_at_the_end() -> list[dict[str, object]]:
    tasks: list[dict[str, object]] = [
        {
            "id": f"t{i}",
            "name": f"think {i}",
            "description": "Answer in a sentence",
            "agent_role": "executor",
            "tool": None,
            "inputs": {},
            "depends_on": [f"t{i - 1}"] if i else [],
            "fallback_strategy": "fail",
        }
        for i in range(9)
    ]
    tasks.append(
        {
            "id": "t9",
            "name": "check",
            "description": "",
            "agent_role": "executor",
            "tool": "execute_python",
            "inputs": {"code": "raise SystemExit('a bug in the last step')"},
            "depends_on": ["t8"],
            "fallback_strategy": "fail",
        }
    )
    return tasks


async def wait_for(dsn: str, query: str, *args: object, until: Any, timeout: float = 300) -> Any:
    connection = await asyncpg.connect(dsn)
    try:
        deadline = time.monotonic() + timeout
        while not until(value := await connection.fetchval(query, *args)):
            if time.monotonic() > deadline:
                raise SystemExit(f"not reached in {timeout} s: {query} -> {value}")
            await asyncio.sleep(0.05)
        return value
    finally:
        await connection.close()


async def fetch(dsn: str, query: str, *args: object) -> list[asyncpg.Record]:
    connection = await asyncpg.connect(dsn)
    try:
        return list(await connection.fetch(query, *args))
    finally:
        await connection.close()


RESUMED = """
SELECT extract(epoch FROM s.created_at - d.created_at)::float8 * 1000 AS ms
FROM task_execution_logs d
JOIN LATERAL (
    SELECT created_at FROM task_execution_logs s
    WHERE s.task_id = d.task_id AND s.event_type = 'task_started' AND s.id > d.id ORDER BY s.id LIMIT 1
) s ON true
WHERE d.run_id = $1 AND d.event_type = 'approval_decided'
"""
CLAIMED = (
    "SELECT extract(epoch FROM started_at - available_at)::float8 * 1000 AS ms FROM tasks WHERE run_id = $1 "
    "AND tool = 'execute_python'"
)
SPENT = "SELECT count(*) AS calls, coalesce(sum(cost_usd), 0)::float8 AS usd FROM llm_usage WHERE run_id = $1"


def signed(user_id: uuid.UUID) -> dict[str, str]:
    """The identity headers the gateway would send for this user."""
    identity = Identity(user_id=str(user_id), username="bench", role="user", auth_method="jwt")
    return sign_identity(identity, SECRETS["INTERNAL_SECRET"])


def start_run(orchestrator: str, headers: dict[str, str], body: dict[str, object]) -> str:
    response = httpx.post(f"{orchestrator}/runs", headers=headers, json=body, timeout=60)
    response.raise_for_status()
    return str(response.json()["id"])


def approve_to_start(dsn: str, orchestrator: str, headers: dict[str, str], user_id: uuid.UUID, count: int) -> None:
    plan_id = uuid.uuid4()
    asyncio.run(store_plan(dsn, user_id, plan_id, code_tasks(count)))
    body: dict[str, object] = {"plan_id": str(plan_id), "max_parallel": count, "summarize": False}
    plain = start_run(orchestrator, headers, body)
    asyncio.run(
        wait_for(dsn, "SELECT status FROM runs WHERE id = $1", uuid.UUID(plain), until=lambda s: s != "running")
    )
    gated = start_run(orchestrator, headers, {**body, "require_approval": ["execute_python"]})
    asyncio.run(
        wait_for(
            dsn,
            "SELECT count(*) FROM approvals WHERE run_id = $1 AND status = 'pending'",
            uuid.UUID(gated),
            until=lambda n: n == count,
        )
    )
    approvals = [
        str(r["id"]) for r in asyncio.run(fetch(dsn, "SELECT id FROM approvals WHERE run_id = $1", uuid.UUID(gated)))
    ]
    decision_ms = []
    with httpx.Client(base_url=orchestrator, headers=headers, timeout=60) as client:
        for approval_id in approvals:
            started = time.perf_counter()
            client.post(f"/approvals/{approval_id}/decision", json={"decision": "approve"}).raise_for_status()
            decision_ms.append((time.perf_counter() - started) * 1000)
    status = asyncio.run(
        wait_for(dsn, "SELECT status FROM runs WHERE id = $1", uuid.UUID(gated), until=lambda s: s != "running")
    )
    resumed = [r["ms"] for r in asyncio.run(fetch(dsn, RESUMED, uuid.UUID(gated)))]
    claimed = [r["ms"] for r in asyncio.run(fetch(dsn, CLAIMED, uuid.UUID(plain)))]
    print(f"1. approve -> start, {count} gated execute_python calls (run {status}, {len(resumed)} resumed):")
    print(f"   decision -> task claimed again   {summary(resumed)}")
    print(f"   baseline: ready -> claimed, same tasks ungated   {summary(claimed)}")
    print(
        f"   ratio at p50 {percentile(resumed, 50) / max(percentile(claimed, 50), 1e-3):.2f}x, "
        f"at p99 {percentile(resumed, 99) / max(percentile(claimed, 99), 1e-3):.2f}x"
    )
    print(f"   the decision call itself (HTTP, direct to the orchestrator)   {summary(decision_ms)}")


def retry_savings(dsn: str, orchestrator: str, user_id: uuid.UUID) -> None:
    headers = signed(user_id)
    plan_id = uuid.uuid4()
    asyncio.run(store_plan(dsn, user_id, plan_id, chain_failing_at_the_end()))
    parent = start_run(orchestrator, headers, {"plan_id": str(plan_id), "summarize": False})
    done = "SELECT status FROM runs WHERE id = $1"
    asyncio.run(wait_for(dsn, done, uuid.UUID(parent), until=lambda s: s != "running"))
    response = httpx.post(
        f"{orchestrator}/runs/{parent}/retry",
        headers=headers,
        json={"inputs_patch": {"t9": {"code": "print('fixed')"}}},
        timeout=60,
    )
    response.raise_for_status()
    child = str(response.json()["id"])
    status = asyncio.run(wait_for(dsn, done, uuid.UUID(child), until=lambda s: s != "running"))
    # The ai-runtime writes its ledger in batches (USAGE_FLUSH_SECONDS): wait for the parent's nine calls.
    asyncio.run(
        wait_for(dsn, "SELECT count(*) FROM llm_usage WHERE run_id = $1", uuid.UUID(parent), until=lambda n: n >= 9)
    )
    (spent_parent,) = asyncio.run(fetch(dsn, SPENT, uuid.UUID(parent)))
    (spent_child,) = asyncio.run(fetch(dsn, SPENT, uuid.UUID(child)))
    print(f"2. retry of a 10-task run whose last task failed (retry {status}):")
    print(f"   parent run  LLM calls {spent_parent['calls']:>3}  ${spent_parent['usd']:.6f}")
    print(f"   retry       LLM calls {spent_child['calls']:>3}  ${spent_child['usd']:.6f}")
    saved = spent_parent["usd"] - spent_child["usd"]
    print(f"   saved by copying what succeeded: {spent_parent['calls'] - spent_child['calls']} calls, ${saved:.6f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--approvals", type=int, default=100)
    args = parser.parse_args()
    with backends() as urls, serving(create_fake_openai("A sentence.")) as upstream, ExitStack() as stack:
        dsn = asyncpg_dsn(urls["DATABASE_URL"])
        env = {
            **urls,
            **SECRETS,
            "LOCAL_LLM_ENABLED": "false",
            "OPENAI_API_KEY": "sk-bench",
            "OPENAI_BASE_URL": f"{upstream.url}/v1",
            "ROLE_MODELS": json.dumps({role: ["gpt-4o-mini"] for role in ("planner", "executor", "critic")}),
            "USAGE_FLUSH_SECONDS": "0.2",
            "DEFAULT_MAX_ATTEMPTS": "1",
            "WORKER_CONCURRENCY": str(max(16, args.approvals)),
            "SANDBOX_RUNS_PER_USER": str(max(4, args.approvals)),
            "DATABASE_POOL_SIZE": "20",
        }
        runtime = stack.enter_context(service_process("ai_runtime", env))
        planner = stack.enter_context(service_process("task_planner", {**env, "AI_RUNTIME_URL": runtime}))
        tools = stack.enter_context(service_process("tool_runner", {**env, "AI_RUNTIME_URL": runtime}))
        orchestrator = stack.enter_context(
            service_process(
                "agent_orchestrator",
                {**env, "AI_RUNTIME_URL": runtime, "TASK_PLANNER_URL": planner, "TOOL_RUNNER_URL": tools},
            )
        )
        user_id = uuid.uuid4()
        approve_to_start(dsn, orchestrator, signed(user_id), user_id, args.approvals)
        retry_savings(dsn, orchestrator, uuid.uuid4())


if __name__ == "__main__":
    main()
