"""What the eval machinery costs over doing its work by hand: N baseline cases (a local OpenAI-protocol server
answers each with a correct function at once), each completed, its code run and its check run in the sandbox.

Reported: per case, claimed -> checked (eval_results.wall_ms) P50/P99, and the whole eval's cases per second; the
floor in the same run is the same three calls (ai-runtime /complete, then tool-runner /tools/execute twice) made
directly over HTTP by C concurrent workers, per case and in total.

    python -m benchmarks.evals [--cases 60] [--concurrency 4]
"""

import argparse
import asyncio
import json
import time
import uuid
from contextlib import ExitStack

import asyncpg
import httpx

from benchmarks.approvals import signed, wait_for
from benchmarks.common import backends, percentile, service_process, summary
from benchmarks.gateway import SECRETS
from benchmarks.orchestrator import insert_user
from services.agent_orchestrator.evals.checks import BASELINE_SYSTEM, Produced, check_program
from services.agent_orchestrator.events import asyncpg_dsn
from shared.contracts.evals import EvalCase
from tests.support import serving
from tests.support.fake_providers import create_fake_openai

CODE = "def add(a, b):\n    return a + b\nprint(add(2, 3))"
ANSWER = f"```python\n{CODE}\n```"


def cases(count: int) -> list[dict[str, object]]:
    return [
        {
            "id": f"add-{i}",
            "goal": f"Write add(a, b) returning the sum (variant {i}).",
            "entry_point": "add",
            "check": "exec(code, globals())\nassert add(2, 3) == 5",
        }
        for i in range(count)
    ]


async def add_user(dsn: str, user_id: uuid.UUID) -> None:
    connection = await asyncpg.connect(dsn)
    try:
        await insert_user(connection, user_id)
    finally:
        await connection.close()


async def by_hand(runtime: str, tools: str, headers: dict[str, str], count: int, workers: int) -> list[float]:
    """The floor: each case's completion, code run and check run, made directly."""
    queue: asyncio.Queue[dict[str, object]] = asyncio.Queue()
    for case in cases(count):
        queue.put_nowait(case)
    took: list[float] = []

    async def work(client: httpx.AsyncClient) -> None:
        while not queue.empty():
            case = EvalCase.model_validate(queue.get_nowait())
            started = time.perf_counter()
            asked = {
                "role": "executor",
                "prompt": case.goal,
                "context": [{"role": "system", "content": BASELINE_SYSTEM}],
                "max_tokens": 1024,
                "cache": False,
            }
            (await client.post(f"{runtime}/complete", json=asked)).raise_for_status()
            for program in (CODE, check_program(case, Produced(answer=ANSWER, code=CODE, stdout="5\n"))):
                body = {"tool_name": "execute_python", "parameters": {"code": program}, "timeout_seconds": 10}
                ran = (await client.post(f"{tools}/tools/execute", json=body)).json()
                assert ran["status"] == "succeeded", ran
            took.append((time.perf_counter() - started) * 1000)

    async with httpx.AsyncClient(headers=headers, timeout=60) as client:
        await asyncio.gather(*(work(client) for _ in range(workers)))
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=60)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    with backends() as urls, serving(create_fake_openai(ANSWER)) as upstream, ExitStack() as stack:
        dsn = asyncpg_dsn(urls["DATABASE_URL"])
        env = {
            **urls,
            **SECRETS,
            "LOCAL_LLM_ENABLED": "false",
            "OPENAI_API_KEY": "sk-bench",
            "OPENAI_BASE_URL": f"{upstream.url}/v1",
            "ROLE_MODELS": json.dumps({"executor": ["gpt-4o-mini"]}),
            "SANDBOX_RUNS_PER_USER": str(max(4, 2 * args.concurrency)),
            "EVAL_POLL_SECONDS": "0.1",
        }
        runtime = stack.enter_context(service_process("ai_runtime", env))
        tools = stack.enter_context(service_process("tool_runner", {**env, "AI_RUNTIME_URL": runtime}))
        planner = stack.enter_context(service_process("task_planner", {**env, "AI_RUNTIME_URL": runtime}))
        orchestrator = stack.enter_context(
            service_process(
                "agent_orchestrator",
                {**env, "AI_RUNTIME_URL": runtime, "TASK_PLANNER_URL": planner, "TOOL_RUNNER_URL": tools},
            )
        )
        user_id = uuid.uuid4()
        asyncio.run(add_user(dsn, user_id))
        headers = signed(user_id)

        started = time.perf_counter()
        floor = asyncio.run(by_hand(runtime, tools, headers, args.cases, args.concurrency))
        floor_seconds = time.perf_counter() - started

        body = {
            "suite": "bench",
            "cases": cases(args.cases),
            "arms": ["baseline"],
            "concurrency": args.concurrency,
        }
        started = time.perf_counter()
        created = httpx.post(f"{orchestrator}/evals", headers=headers, json=body, timeout=60)
        created.raise_for_status()
        eval_id = uuid.UUID(created.json()["id"])
        status = asyncio.run(
            wait_for(dsn, "SELECT status FROM evals WHERE id = $1", eval_id, until=lambda s: s != "running")
        )
        eval_seconds = time.perf_counter() - started
        report = httpx.get(f"{orchestrator}/evals/{eval_id}", headers=headers, timeout=60).json()
        per_case = [float(row["baseline"]["wall_ms"]) for row in report["cases"]]
        passed = report["arms"]["baseline"]["passed"]

        print(f"{args.cases} baseline cases at concurrency {args.concurrency} (eval {status}, {passed} passed):")
        print(f"   eval: claimed -> checked    {summary(per_case)}")
        print(f"   floor: the same calls by hand   {summary(floor)}")
        print(
            f"   ratio at p50 {percentile(per_case, 50) / percentile(floor, 50):.2f}x, "
            f"at p99 {percentile(per_case, 99) / percentile(floor, 99):.2f}x"
        )
        print(
            f"   cases/s: eval {args.cases / eval_seconds:.2f}, by hand {args.cases / floor_seconds:.2f} "
            f"(ratio {floor_seconds / eval_seconds:.2f})"
        )


if __name__ == "__main__":
    main()
