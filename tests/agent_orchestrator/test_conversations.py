"""Conversations through the gateway, on every real service with the fake OpenAI wire server behind the ai-runtime:
a reply is an agent turn (memories recalled, tools run, messages stored with usage), memory learns from the
exchange (Mem0's ADD/UPDATE with history), replies stream, a run started from a conversation posts its result back,
and nobody else sees any of it."""

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

from cognitionos_cli.workflow import parse_sse
from services.agent_orchestrator.conversations.memory import grounded
from services.agent_orchestrator.main import create_app as create_orchestrator
from tests.support import ThreadedServer, assert_error, eventually, serving
from tests.support.platform import CallTools, Platform, RoleScript, learning_jobs, task
from tests.support.users import RegisteredUser, register_and_login, signed_client

FIB_CODE = "print(6 * 7)"


class Chat:
    """One user's client of /api/v1/conversations through the gateway."""

    def __init__(self, url: str, user: RegisteredUser) -> None:
        self.user = user
        self.http = httpx.Client(base_url=f"{url}/api/v1", headers=user.headers, timeout=60)

    def start(self, **fields: Any) -> dict[str, Any]:
        response = self.http.post("/conversations", json=fields)
        assert response.status_code == 201, response.text
        return response.json()

    def say(self, conversation_id: str, content: str, **fields: Any) -> dict[str, Any]:
        response = self.http.post(f"/conversations/{conversation_id}/messages", json={"content": content, **fields})
        assert response.status_code == 200, response.text
        return response.json()

    def stream(self, conversation_id: str, content: str, **fields: Any) -> list[tuple[str, dict[str, Any]]]:
        body = {"content": content, "stream": True, **fields}
        with self.http.stream("POST", f"/conversations/{conversation_id}/messages", json=body) as response:
            assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
            return [(name or "", data) for _, name, data in parse_sse(response.iter_lines())]

    def messages(self, conversation_id: str) -> list[dict[str, Any]]:
        response = self.http.get(f"/conversations/{conversation_id}/messages")
        assert response.status_code == 200, response.text
        return response.json()["items"]

    def memories(self) -> list[dict[str, Any]]:
        return self.http.get("/memories").json()["items"]


@contextmanager
def new_user_chat(platform_gateway: ThreadedServer, username: str) -> Iterator[Chat]:
    with httpx.Client(base_url=platform_gateway.url, timeout=30) as signing_in:
        user = register_and_login(signing_in, username)
    chat = Chat(platform_gateway.url, user)
    yield chat
    chat.http.close()


@pytest.fixture
def chat(platform_gateway: ThreadedServer, unique: str) -> Iterator[Chat]:
    with new_user_chat(platform_gateway, f"c{unique}") as client:
        yield client


@pytest.fixture
def other(platform_gateway: ThreadedServer, unique: str) -> Iterator[Chat]:
    with new_user_chat(platform_gateway, f"o{unique}") as client:
        yield client


def system_prompt(body: dict[str, Any]) -> str:
    return next((m["content"] for m in body["messages"] if m["role"] == "system"), "")


def test_a_preference_told_once_is_recalled_in_a_later_conversation(chat: Chat, script: RoleScript) -> None:
    script.add(
        "memory_extractor",
        {"facts": [{"content": "The user's favourite drink is green tea", "memory_type": "preference"}]},
    )
    first = chat.start(title="Getting to know you")
    reply = chat.say(first["id"], "I love green tea, it is my favourite drink")
    user_message, answer = reply["messages"][0], reply["messages"][-1]
    assert user_message["role"] == "user" and answer["role"] == "assistant" and answer["content"] == "Happy to help."
    assert answer["model"] == "gpt-4o-mini" and answer["cost_usd"] > 0 and reply["usage"]["llm_calls"] == 1

    learned = eventually(lambda: [m for m in chat.memories() if "green tea" in m["content"]])
    assert learned[0]["memory_type"] == "preference" and learned[0]["source"] == "conversation"
    (added,) = chat.http.get(f"/memories/{learned[0]['id']}/history").json()
    assert added["event"] == "ADD" and added["source_message_id"] == user_message["id"]

    later = chat.start()
    chat.say(later["id"], "What should I drink this afternoon?")
    prompt = system_prompt(script.requests["assistant"][-1])
    assert "You are the assistant of CognitionOS" in prompt and "favourite drink is green tea" in prompt


def test_a_contradicting_statement_updates_the_memory_and_its_history_says_so(chat: Chat, script: RoleScript) -> None:
    script.add(
        "memory_extractor",
        {"facts": [{"content": "The user's favourite drink is green tea", "memory_type": "preference"}]},
    )
    conversation = chat.start()
    chat.say(conversation["id"], "My favourite drink is green tea")
    (tea,) = eventually(lambda: [m for m in chat.memories() if "green tea" in m["content"]])

    script.add(
        "memory_extractor",
        {"facts": [{"content": "The user's favourite drink is black coffee", "memory_type": "preference"}]},
    )
    script.add(
        "memory_updater",
        {"actions": [{"event": "UPDATE", "id": "m1", "content": "The user's favourite drink is black coffee"}]},
    )
    correction = chat.say(conversation["id"], "Actually, my favourite drink is black coffee now")["messages"][0]

    eventually(lambda: chat.http.get(f"/memories/{tea['id']}").json()["content"].endswith("black coffee"))
    history = chat.http.get(f"/memories/{tea['id']}/history").json()
    assert [(h["event"], h["new_content"]) for h in history] == [
        ("ADD", "The user's favourite drink is green tea"),
        ("UPDATE", "The user's favourite drink is black coffee"),
    ]
    assert history[1]["old_content"].endswith("green tea") and history[1]["source_message_id"] == correction["id"]
    decided = json.loads(script.prompts["memory_updater"][-1])
    assert decided["existing_memories"] == [{"id": "m1", "content": "The user's favourite drink is green tea"}]


def test_a_fact_found_only_in_the_reply_is_not_learned(chat: Chat, script: RoleScript) -> None:
    """The small model took its own reply for the user's facts: "Biscuit is a popular Italian dog breed" was stored
    as the user's fact, and Lisbon was not."""
    script.add("assistant", "Biscuit is a popular Italian dog breed.")
    script.add(
        "memory_extractor",
        {
            "facts": [
                {"content": "Biscuit is a popular Italian dog breed", "memory_type": "fact"},
                {"content": "The user's dog is called Biscuit", "memory_type": "fact"},
                {"content": "The user lives in Lisbon", "memory_type": "fact"},
            ]
        },
    )
    conversation = chat.start()
    chat.say(conversation["id"], "My dog is called Biscuit and I live in Lisbon.")
    learned = eventually(lambda: len(chat.memories()) == 2 and chat.memories())
    assert sorted(m["content"] for m in learned) == ["The user lives in Lisbon", "The user's dog is called Biscuit"]
    asked = script.prompts["memory_extractor"][-1]
    assert asked.startswith("The user said:\nMy dog is called Biscuit") and "for context only" in asked


@pytest.mark.parametrize(
    ("fact", "said", "kept"),
    [
        ("Biscuit is a popular Italian dog breed", "My dog is called Biscuit and I live in Lisbon.", False),
        ("The user's dog is called Biscuit", "My dog is called Biscuit and I live in Lisbon.", True),
        ("The user prefers tea", "my favourite colour is teal", False),
        ("The user's favorite color is teal", "my favourite colour is teal", True),
        ("The user has two cats", "I have two cats", True),
        ("The user", "I have two cats", False),
    ],
)
def test_a_fact_must_be_in_the_users_own_words(fact: str, said: str, kept: bool) -> None:
    assert grounded(fact, said) is kept


def test_a_bad_extraction_changes_nothing(chat: Chat, script: RoleScript, platform: Platform) -> None:
    script.add("memory_extractor", "this is not JSON", {"facts": [{"content": 42}]}, {"facts": "many"})
    conversation = chat.start()
    for text in ("I live in Lisbon", "I work at night", "I have two cats"):
        chat.say(conversation["id"], text)

    def learned_from_every_exchange() -> bool:
        return len(script.prompts.get("memory_extractor", [])) >= 3 and learning_jobs(platform.orchestrator) == 0

    eventually(learned_from_every_exchange)
    assert chat.memories() == []


@pytest.mark.needs_sandbox
def test_a_tool_call_round_trip_completes(chat: Chat, script: RoleScript) -> None:
    script.add("assistant", CallTools([("execute_python", {"code": FIB_CODE})]), "Six times seven is 42.")
    conversation = chat.start()
    reply = chat.say(conversation["id"], "What is six times seven? Compute it.")
    roles = [m["role"] for m in reply["messages"]]
    assert roles == ["user", "assistant", "tool", "assistant"]
    call, result, answer = reply["messages"][1:]
    assert call["tool_calls"][0]["function"]["name"] == "execute_python"
    assert result["tool_call_id"] == call["tool_calls"][0]["id"] and '"stdout": "42\\n"' in result["content"]
    assert answer["content"] == "Six times seven is 42." and reply["usage"]["llm_calls"] == 2
    second = script.requests["assistant"][-1]["messages"]
    assert second[-1]["role"] == "tool" and "42" in second[-1]["content"]
    assert [m["role"] for m in chat.messages(conversation["id"])] == roles  # all of it stored


@pytest.mark.needs_sandbox
def test_a_chats_code_hands_back_its_files_by_id(chat: Chat, script: RoleScript) -> None:
    code = "open('/work/outputs/table.csv', 'w').write('n,square\\n7,49\\n')\nprint('written')"
    script.add("assistant", CallTools([("execute_python", {"code": code})]), "The table is attached.")
    conversation = chat.start()
    reply = chat.say(conversation["id"], "Make me a table of a square")
    result = json.loads(reply["messages"][2]["content"])
    [artifact] = result["result"]["artifacts"]
    assert artifact["name"] == "table.csv" and artifact["media_type"] == "text/csv"
    download = chat.http.get(f"/files/{artifact['id']}/content")  # through the gateway
    assert download.status_code == 200 and download.content == b"n,square\n7,49\n"
    assert download.headers["content-disposition"] == "attachment; filename=\"table.csv\"; filename*=UTF-8''table.csv"


@pytest.mark.needs_sandbox
def test_a_gated_tool_call_ends_the_turn_and_deciding_it_continues(chat: Chat, script: RoleScript) -> None:
    script.add("assistant", CallTools([("execute_python", {"code": FIB_CODE})]), "It printed 43.")
    conversation = chat.start()
    held = chat.say(conversation["id"], "Compute six times seven", require_approval=["execute_python"])
    assert [m["role"] for m in held["messages"]] == ["user", "assistant"]  # the call, no result, no reply
    (approval,) = held["approvals"]
    assert approval["conversation_id"] == conversation["id"] and approval["parameters"] == {"code": FIB_CODE}
    assert [a["id"] for a in chat.http.get("/approvals").json()["items"]] == [approval["id"]]
    early = chat.http.post(f"/conversations/{conversation['id']}/resume", json={})
    assert_error(early, 409, "approval_pending")
    assert_error(
        chat.http.post(f"/conversations/{conversation['id']}/messages", json={"content": "hello?"}),
        409,
        "approval_pending",
    )
    decided = chat.http.post(
        f"/approvals/{approval['id']}/decision", json={"decision": "approve", "parameters": {"code": "print(43)"}}
    )
    assert decided.status_code == 200, decided.text
    resumed = chat.http.post(f"/conversations/{conversation['id']}/resume", json={})
    assert resumed.status_code == 200, resumed.text
    tool, answer = resumed.json()["messages"]
    assert tool["role"] == "tool" and '"stdout": "43\\n"' in tool["content"]
    assert answer["content"] == "It printed 43."
    again = chat.http.post(f"/conversations/{conversation['id']}/resume", json={})
    assert_error(again, 409, "nothing_to_resume")


def test_a_rejected_chat_call_is_declined_to_the_model_which_answers(chat: Chat, script: RoleScript) -> None:
    script.add("assistant", CallTools([("http_request", {"url": "https://example.com/"})]), "Understood, I won't.")
    conversation = chat.start()
    events = chat.stream(conversation["id"], "Fetch example.com", require_approval="all")
    names = [name for name, _ in events]
    assert "approval_requested" in names and names[-1] == "done" and "tool_result" not in names
    approval_id = dict(events)["approval_requested"]["approval_id"]
    assert events[-1][1]["approvals"] == [approval_id]
    chat.http.post(f"/approvals/{approval_id}/decision", json={"decision": "reject", "note": "no network"})
    resumed = chat.http.post(f"/conversations/{conversation['id']}/resume", json={"stream": True})
    assert resumed.status_code == 200
    tool, answer = chat.messages(conversation["id"])[-2:]
    assert "rejected this call; it did not run: no network" in tool["content"]
    assert answer["content"] == "Understood, I won't."
    declined = script.requests["assistant"][-1]["messages"][-1]
    assert declined["role"] == "tool" and "rejected" in declined["content"]


def test_a_reply_streams_through_the_gateway(chat: Chat, script: RoleScript) -> None:
    script.add("assistant", "Tea is a fine choice for an afternoon")
    conversation = chat.start()
    events = chat.stream(conversation["id"], "Tea or coffee?", tools=[])
    names = [name for name, _ in events]
    assert names[0] == "message" and names[-1] == "done" and names.count("delta") >= 3  # token by token
    assert (
        "".join(data["content"] for name, data in events if name == "delta") == "Tea is a fine choice for an afternoon"
    )
    done = events[-1][1]
    assert done["usage"]["cost_usd"] > 0 and done["message"]["content"] == "Tea is a fine choice for an afternoon"
    assert [m["role"] for m in chat.messages(conversation["id"])] == ["user", "assistant"]


@pytest.mark.needs_sandbox
def test_a_streamed_reply_carries_its_tool_calls(chat: Chat, script: RoleScript) -> None:
    script.add("assistant", CallTools([("execute_python", {"code": FIB_CODE})]), "It is 42.")
    conversation = chat.start()
    names = [name for name, _ in chat.stream(conversation["id"], "Compute six times seven")]
    assert names.index("tool_call") < names.index("tool_result") < names.index("delta") < names.index("done")


def test_a_run_started_from_a_conversation_posts_its_result_back(chat: Chat, script: RoleScript) -> None:
    script.add("assistant", CallTools([("start_run", {"goal": "Research three teas and compare them"})]), "On it.")
    script.add(
        "planner",
        {"tasks": [task("research", tool="noop"), task("compare", tool="noop", depends_on=("research",))], "risks": []},
    )
    script.add("summarizer", {"summary": "Sencha, Assam and Oolong compared.", "key_facts": []})
    conversation = chat.start()
    reply = chat.say(conversation["id"], "Please research three teas and compare them in depth")
    assert reply["run_id"] and reply["messages"][-1]["content"] == "On it."
    tool_result = next(m for m in reply["messages"] if m["role"] == "tool")
    assert json.loads(tool_result["content"])["run_id"] == reply["run_id"] == tool_result["run_id"]

    posted = eventually(
        lambda: [m for m in chat.messages(conversation["id"]) if m["metadata"].get("kind") == "run_result"], timeout=60
    )
    assert posted[0]["content"] == "Sencha, Assam and Oolong compared." and posted[0]["run_id"] == reply["run_id"]
    assert posted[0]["metadata"]["status"] == "succeeded"


def test_another_user_sees_nothing(chat: Chat, other: Chat) -> None:
    mine = chat.start(title="private")
    chat.say(mine["id"], "A secret plan", tools=[])
    path = f"/conversations/{mine['id']}"
    for response in (
        other.http.get(path),
        other.http.get(f"{path}/messages"),
        other.http.post(f"{path}/messages", json={"content": "let me in"}),
        other.http.patch(path, json={"title": "mine now"}),
        other.http.delete(path),
    ):
        assert_error(response, 404)
    assert other.http.get("/conversations").json()["items"] == []
    assert chat.http.get(path).json()["title"] == "private"


def test_conversations_are_listed_with_a_cursor_changed_and_deleted(chat: Chat) -> None:
    made = [chat.start(title=f"c{i}") for i in range(3)]
    first = chat.http.get("/conversations", params={"limit": 2}).json()
    assert [c["title"] for c in first["items"]] == ["c2", "c1"] and first["next_cursor"]
    second = chat.http.get("/conversations", params={"limit": 2, "cursor": first["next_cursor"]}).json()
    assert [c["title"] for c in second["items"]] == ["c0"] and second["next_cursor"] is None
    assert_error(chat.http.get("/conversations", params={"cursor": "not-a-cursor"}), 400, "invalid_cursor")
    changed = chat.http.patch(
        f"/conversations/{made[0]['id']}", json={"title": "renamed", "system_prompt": "Be terse."}
    )
    assert changed.status_code == 200 and changed.json()["title"] == "renamed"
    assert chat.http.delete(f"/conversations/{made[0]['id']}").status_code == 204
    assert_error(chat.http.get(f"/conversations/{made[0]['id']}"), 404)
    assert_error(chat.http.post("/conversations", json={"title": "x", "colour": "red"}), 422)
    assert_error(chat.http.post(f"/conversations/{made[1]['id']}/messages", json={"content": ""}), 422)


def test_older_history_is_summarised_when_it_no_longer_fits(
    platform: Platform, script: RoleScript, database_url: str
) -> None:
    from tests.support.users import make_user

    settings = platform.orchestrator_settings(
        conversation_context_tokens=200, worker_enabled=False, conversation_learn=False
    )
    user_id = make_user(database_url)
    with (
        serving(create_orchestrator(settings)) as orchestrator,
        signed_client(user_id, base_url=orchestrator.url) as client,
    ):
        conversation = client.post("/conversations", json={}).json()
        for n in range(4):
            said = client.post(
                f"/conversations/{conversation['id']}/messages",
                json={"content": f"Message {n}: " + "words " * 120, "tools": []},
            )
            assert said.status_code == 200, said.text
        summarised = client.get(f"/conversations/{conversation['id']}").json()
    assert summarised["summary"]
    assert "Earlier in this conversation:" in system_prompt(script.requests["assistant"][-1])
    assert len(script.requests["assistant"][-1]["messages"]) < 9  # not the whole history
