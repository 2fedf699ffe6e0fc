"""From a goal to a finished result through the API gateway, with the Python SDK (start the system first:
`./scripts/up.sh`).

    .venv/bin/python examples/workflow_example.py ["your goal"] [--gateway http://127.0.0.1:8000]

Signs in (registering this machine's CLI account the first time), posts the goal, streams the run's events,
then prints the result, what the sandbox printed, the memory the summarizer stored and the total cost.
Runs on the embedded local model without any key; set OPENAI_API_KEY or ANTHROPIC_API_KEY for better plans.
"""

import argparse
import sys

from cognitionos_cli.workflow import Credentials
from cognitionos_sdk import CognitionOS, CognitionOSError
from cognitionos_sdk.formatting import usd

GOAL = "Write a Python function that returns the n-th Fibonacci number, test it on n = 0..10, and remember the result"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("goal", nargs="?", default=GOAL)
    parser.add_argument("--gateway", default="http://127.0.0.1:8000")
    parser.add_argument("--budget-usd", type=float, default=None)
    parser.add_argument("--max-tasks", type=int, default=None, help="Most tasks the planner may use")
    args = parser.parse_args()

    with CognitionOS(args.gateway, timeout=300) as client:
        try:
            print(f"signed in as {Credentials.local().sign_in(client).username}")
            run = client.runs.create(args.goal, budget_usd=args.budget_usd, max_tasks=args.max_tasks)
            for event in client.runs.events(run.id):
                cost = f"  ({usd(event.cost_usd)})" if event.cost_usd else ""
                print(f"  [{event.event_type}] {event.message or ''}{cost}")
            run = client.runs.get(run.id)
            print(f"\nstatus: {run.status}" + (f" ({run.error})" if run.error else ""))
            print(f"checked: {run.verification or 'not finished'}")
            result = run.result or {}
            print(f"result: {result.get('summary') or '(none)'}")
            for task in run.tasks:
                if task.tool == "execute_python" and task.output:
                    print(f"sandbox output of {task.task_key}:\n{str(task.output.get('result', '')).rstrip()}")
            if result.get("memory_id"):
                print(f"stored in memory: {client.memories.get(result['memory_id']).content[:500]}")
            print(f"total cost: {usd(run.spent_usd)}")
            return 0 if run.status == "succeeded" else 1
        except CognitionOSError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2


if __name__ == "__main__":
    sys.exit(main())
