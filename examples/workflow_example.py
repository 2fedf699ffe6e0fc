"""From a goal to a finished result through the API gateway (start the system first: `./scripts/up.sh`).

    python examples/workflow_example.py ["your goal"] [--gateway http://127.0.0.1:8000]

Signs in (registering this machine's CLI account the first time), posts the goal, streams the run's events,
then prints the result, what the sandbox printed, the memory the summarizer stored and the total cost.
Runs on the embedded local model without any key; set OPENAI_API_KEY or ANTHROPIC_API_KEY for better plans.
"""

import argparse
import sys

from cognitionos_cli.workflow import Credentials, Gateway, GatewayError, event_line, run_goal, sandbox_outputs

GOAL = "Write a Python function that returns the n-th Fibonacci number, test it on n = 0..10, and remember the result"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("goal", nargs="?", default=GOAL)
    parser.add_argument("--gateway", default="http://127.0.0.1:8000")
    parser.add_argument("--budget-usd", type=float, default=None)
    parser.add_argument("--max-tasks", type=int, default=None, help="Most tasks the planner may use")
    args = parser.parse_args()

    gateway = Gateway(args.gateway)
    try:
        user = gateway.sign_in(Credentials.local())
        print(f"signed in as {user['username']}")
        run = run_goal(
            gateway,
            args.goal,
            on_event=lambda e: print(event_line(e)),
            budget_usd=args.budget_usd,
            max_tasks=args.max_tasks,
        )
        print(f"\nstatus: {run['status']}" + (f" ({run['error']})" if run["error"] else ""))
        result = run["result"] or {}
        print(f"result: {result.get('summary') or '(none)'}")
        for task, stdout in sandbox_outputs(run):
            print(f"sandbox output of {task}:\n{stdout.rstrip()}")
        if result.get("memory_id"):
            print(f"stored in memory: {gateway.memory(result['memory_id'])['content'][:500]}")
        print(f"total cost: ${run['spent_usd']:.6f}")
        return 0 if run["status"] == "succeeded" else 1
    except GatewayError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    finally:
        gateway.close()


if __name__ == "__main__":
    sys.exit(main())
