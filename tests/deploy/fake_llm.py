"""An OpenAI wire-protocol server for the production-path test, run in its own container beside the stack.

It answers each agent role from the system prompt: the planner with a plan whose task runs code in the sandbox, the
executor with that code, the critic with approval and the summarizer with a summary. Only FastAPI, which the image has.
"""

import json
import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

FIB_CODE = (
    "def fib(n):\n    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n    return a\n"
    "print([fib(n) for n in range(11)])"
)
PLAN = {
    "tasks": [
        {
            "id": "fib",
            "name": "Compute Fibonacci numbers",
            "description": "Write fib(n) and run it on n = 0..10 in the sandbox",
            "agent_role": "executor",
            "tool": "execute_python",
            "depends_on": [],
        }
    ],
    "risks": [],
}
REPLIES: dict[str, Any] = {
    "You are the planner": PLAN,
    "You are an executor": {"result": "fib(0..10) computed in the sandbox", "code": FIB_CODE},
    "You are the critic": {"score": 9, "approved": True, "feedback": "Correct."},
    "You are the summarizer": {
        "summary": "fib(0..10) is 0 1 1 2 3 5 8 13 21 34 55",
        "key_facts": ["fib(10) = 55, computed in the sandbox"],
    },
}

app = FastAPI()


def reply_for(body: dict[str, Any]) -> str:
    system = next((m.get("content") or "" for m in body.get("messages", []) if m.get("role") == "system"), "")
    for marker, reply in REPLIES.items():
        if marker in str(system):
            return json.dumps(reply)
    return "Hello from the production-path test server."


@app.post("/v1/chat/completions")
async def chat(request: Request) -> Response:
    body = await request.json()
    text = reply_for(body)
    usage = {"prompt_tokens": 120, "completion_tokens": 40, "total_tokens": 160}
    base = {"id": "chatcmpl-e2e", "created": int(time.time()), "model": body["model"]}
    if not body.get("stream"):
        choice = {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
        return JSONResponse({**base, "object": "chat.completion", "choices": [choice], "usage": usage})

    async def events() -> AsyncIterator[str]:
        chunk = {**base, "object": "chat.completion.chunk"}
        delta = {"index": 0, "delta": {"role": "assistant", "content": text}, "finish_reason": None}
        yield f"data: {json.dumps({**chunk, 'choices': [delta]})}\n\n"
        done = {"index": 0, "delta": {}, "finish_reason": "stop"}
        yield f"data: {json.dumps({**chunk, 'choices': [done], 'usage': usage})}\n\n"
        yield "data: [DONE]\n\n"

    return StreamingResponse(events(), media_type="text/event-stream")
