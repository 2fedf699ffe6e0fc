"""W3C Trace Context (traceparent) parsing and generation."""

import random
import re
from dataclasses import dataclass

_TRACEPARENT = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")


@dataclass(frozen=True, slots=True, kw_only=True)
class TraceContext:
    trace_id: str
    span_id: str
    parent_span_id: str | None
    flags: str = "01"

    @property
    def traceparent(self) -> str:
        return f"00-{self.trace_id}-{self.span_id}-{self.flags}"


# Ids from `random`, as OpenTelemetry's own generator makes them: they name requests and spans, they guard nothing,
# and os.urandom (secrets, uuid4) is a system call per id on every request. `random` reseeds itself after a fork.
def new_span_id() -> str:
    return f"{random.getrandbits(64) or 1:016x}"


def new_trace_id() -> str:
    return f"{random.getrandbits(128) or 1:032x}"


def new_request_id() -> str:
    return f"{random.getrandbits(128):032x}"


def continue_trace(traceparent: str | None) -> TraceContext:
    """Start this hop's span: inside the caller's trace when its header is valid, else a new trace."""
    if traceparent:
        match = _TRACEPARENT.match(traceparent.strip().lower())
        if match:
            version, trace_id, parent_id, flags = match.groups()
            if version != "ff" and trace_id != "0" * 32 and parent_id != "0" * 16:
                return TraceContext(trace_id=trace_id, span_id=new_span_id(), parent_span_id=parent_id, flags=flags)
    return TraceContext(trace_id=new_trace_id(), span_id=new_span_id(), parent_span_id=None)
