"""`cognitionos chat`: a REPL over /api/v1/conversations, printing each reply as it streams."""

import sys
from typing import Any

from rich.console import Console

from cognitionos_cli.workflow import Gateway
from cognitionos_sdk.formatting import usd

QUIT = {"/quit", "/exit"}


def chat_loop(gateway: Gateway, console: Console, *, conversation_id: str | None) -> None:
    conversation = gateway.conversation(conversation_id) if conversation_id else gateway.start_conversation()
    console.print(f"[dim]conversation {conversation['id']} (Ctrl-D or /quit to leave)[/dim]")
    interactive = sys.stdin.isatty()
    while True:
        try:
            line = console.input("[bold]you>[/bold] ") if interactive else sys.stdin.readline()
        except EOFError:
            break
        if not line:
            break
        text = line.strip()
        if text in QUIT:
            break
        if text:
            show_turn(console, gateway.say(conversation["id"], text))


def show_turn(console: Console, events: Any) -> None:
    """Deltas as they come, tool calls and runs on their own lines, then the turn's cost."""
    console.out("assistant> ", end="")
    for name, data in events:
        if name == "delta":
            console.out(data["content"], end="")
        elif name == "tool_call":
            console.out(f"\n  [tool] {data['name']}({data['arguments'][:200]})")
        elif name == "tool_result":
            console.out(f"  [result] {data['content'][:300]}")
        elif name == "run_started":
            console.out(f"\n  [run {data['run_id']} started]")
        elif name == "run_result":
            console.out(f"\n  [run result] {data['content']}")
        elif name == "error":
            console.out(f"\n  [error] {data['error']['message']}")
        elif "event_type" in data:  # the events of a run the assistant started, followed to its end
            console.out(f"  [{data['event_type']}] {data.get('message') or ''}")
        elif name == "done":
            usage = data["usage"]
            console.out(f"\n  [{usage['prompt_tokens'] + usage['completion_tokens']} tokens, {usd(usage['cost_usd'])}]")
