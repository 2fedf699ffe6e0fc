import time

import pytest

from shared.identity import (
    IDENTITY_HEADER,
    MAX_IDENTITY_AGE_SECONDS,
    SIGNATURE_HEADER,
    Identity,
    sign_identity,
    verify_identity_headers,
)
from shared.tracing import continue_trace

SECRET = "s" * 32


def test_continue_valid_trace() -> None:
    trace = continue_trace("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
    assert trace.trace_id == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert trace.parent_span_id == "00f067aa0ba902b7" and trace.span_id != trace.parent_span_id
    assert trace.traceparent.startswith("00-4bf92f3577b34da6a3ce929d0e0e4736-")


def test_invalid_traceparent_starts_new_trace() -> None:
    for header in (
        None,
        "",
        "garbage",
        "00-" + "0" * 32 + "-00f067aa0ba902b7-01",
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    ):
        trace = continue_trace(header)
        assert trace.parent_span_id is None and len(trace.trace_id) == 32 and trace.trace_id != "0" * 32


def test_identity_roundtrip_and_tampering() -> None:
    identity = Identity(user_id="u1", username="ada", role="user", auth_method="jwt", session_id="s1")
    headers = sign_identity(identity, SECRET)
    assert verify_identity_headers(headers[IDENTITY_HEADER], headers[SIGNATURE_HEADER], SECRET) == identity
    assert verify_identity_headers(headers[IDENTITY_HEADER], headers[SIGNATURE_HEADER], "other" * 8) is None
    admin = sign_identity(Identity(user_id="u1", username="ada", role="admin", auth_method="jwt"), "other" * 8)
    assert verify_identity_headers(admin[IDENTITY_HEADER], headers[SIGNATURE_HEADER], SECRET) is None
    old = sign_identity(identity, SECRET, now=time.time() - 1000)
    assert verify_identity_headers(old[IDENTITY_HEADER], old[SIGNATURE_HEADER], SECRET) is None
    assert verify_identity_headers(None, None, SECRET) is None


def test_replayed_identity_is_refused_once_stale_although_its_check_was_cached(monkeypatch: pytest.MonkeyPatch) -> None:
    identity = Identity(user_id="u1", username="ada", role="user", auth_method="api_key")
    headers = sign_identity(identity, SECRET)
    assert verify_identity_headers(headers[IDENTITY_HEADER], headers[SIGNATURE_HEADER], SECRET) == identity
    later = time.time() + MAX_IDENTITY_AGE_SECONDS + 1
    monkeypatch.setattr(time, "time", lambda: later)
    assert verify_identity_headers(headers[IDENTITY_HEADER], headers[SIGNATURE_HEADER], SECRET) is None


def test_forged_signature_is_refused_after_the_genuine_one_was_cached() -> None:
    identity = Identity(user_id="u1", username="ada", role="user", auth_method="jwt")
    headers = sign_identity(identity, SECRET)
    assert verify_identity_headers(headers[IDENTITY_HEADER], headers[SIGNATURE_HEADER], SECRET) == identity
    forged = headers[SIGNATURE_HEADER][:-1] + ("0" if headers[SIGNATURE_HEADER][-1] != "0" else "1")
    assert verify_identity_headers(headers[IDENTITY_HEADER], forged, SECRET) is None
    promoted = sign_identity(Identity(user_id="u1", username="ada", role="admin", auth_method="jwt"), SECRET)
    assert verify_identity_headers(promoted[IDENTITY_HEADER], headers[SIGNATURE_HEADER], SECRET) is None
