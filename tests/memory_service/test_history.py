"""Every change to a memory is in its history: what changed, when, and from which conversation message; the owner
reads it even after the memory is deleted, and nobody else can."""

import uuid

from tests.support import assert_error
from tests.support.users import Caller


def test_history_records_add_merge_update_and_delete_with_their_source_message(alice: Caller, bob: Caller) -> None:
    told, corrected, forgotten = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    memory = alice.remember("The user lives in Lisbon", source_message_id=str(told))
    alice.remember("The user lives in Lisbon.")  # a near-copy: merged into the first
    changed = alice.client.put(
        f"/memories/{memory['id']}", json={"content": "The user lives in Porto", "source_message_id": str(corrected)}
    )
    assert changed.status_code == 200, changed.text
    assert (
        alice.client.delete(f"/memories/{memory['id']}", params={"source_message_id": str(forgotten)}).status_code
        == 204
    )

    history = alice.client.get(f"/memories/{memory['id']}/history").json()
    assert [(h["event"], h["old_content"], h["new_content"]) for h in history] == [
        ("ADD", None, "The user lives in Lisbon"),
        ("MERGE", "The user lives in Lisbon", "The user lives in Lisbon"),
        ("UPDATE", "The user lives in Lisbon", "The user lives in Porto"),
        ("DELETE", "The user lives in Porto", None),
    ]
    assert [h["source_message_id"] for h in history] == [str(told), None, str(corrected), str(forgotten)]
    assert history[0]["created_at"] <= history[-1]["created_at"]
    assert_error(bob.client.get(f"/memories/{memory['id']}/history"), 404)


def test_a_sensitive_memorys_text_stays_out_of_its_history(alice: Caller) -> None:
    memory = alice.remember("The door code is 4711", is_sensitive=True)
    (added,) = alice.client.get(f"/memories/{memory['id']}/history").json()
    assert added["event"] == "ADD" and added["new_content"] is None


def test_deleting_by_filter_is_in_the_history_too(alice: Caller) -> None:
    memory = alice.remember("Scratch note for the filter test", memory_type="working")
    assert alice.client.delete("/memories", params={"memory_type": "working"}).status_code == 200
    assert [h["event"] for h in alice.client.get(f"/memories/{memory['id']}/history").json()] == ["ADD", "DELETE"]


def test_unknown_memory_has_no_history(alice: Caller) -> None:
    assert_error(alice.client.get(f"/memories/{uuid.uuid4()}/history"), 404)
