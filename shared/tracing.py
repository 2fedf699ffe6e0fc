"""W3C Trace Context (traceparent) parsing and generation."""

import re
import secrets
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


def new_span_id() -> str:
    return secrets.token_hex(8)


def continue_trace(traceparent: str | None) -> TraceContext:
    """Start this hop's span: inside the caller's trace when its header is valid, else a new trace."""
    if traceparent:
        match = _TRACEPARENT.match(traceparent.strip().lower())
        if match:
            version, trace_id, parent_id, flags = match.groups()
            if version != "ff" and trace_id != "0" * 32 and parent_id != "0" * 16:
                return TraceContext(trace_id=trace_id, span_id=new_span_id(), parent_span_id=parent_id, flags=flags)
    return TraceContext(trace_id=secrets.token_hex(16), span_id=new_span_id(), parent_span_id=None)
