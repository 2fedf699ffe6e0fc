"""The HTTP/1.1 protocol every service is served with: uvicorn's httptools parser, with a cap on the request head.

httptools keeps a request line or header in memory until it ends, however long: one 500 MB header took a service from
117 to 865 MB. Here the bytes of a request's head (request line and headers) are counted as they arrive, and past
MAX_HEAD_BYTES the connection is answered 431 and closed, so a head costs at most the cap and one read. Selected with
`uvicorn --http shared.http_protocol:CappedHttpToolsProtocol` (cognitionos_cli/supervisor.py, the Dockerfile).
"""

import json
from typing import Any

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from shared.errors import error_body

MAX_HEAD_BYTES = 64 * 1024
PROTOCOL = "shared.http_protocol:CappedHttpToolsProtocol"


def _refusal() -> bytes:
    body = json.dumps(
        error_body(
            "request_header_too_large",
            "Request line and headers too large",
            {"max_bytes": MAX_HEAD_BYTES},
        )
    ).encode()
    head = (
        "HTTP/1.1 431 Request Header Fields Too Large\r\n"
        "content-type: application/json\r\n"
        f"content-length: {len(body)}\r\n"
        "connection: close\r\n\r\n"
    )
    return head.encode() + body


REFUSAL = _refusal()


class HeadTooLarge(Exception):
    """Raised from a parser callback once a head passes the cap."""


class CappedHttpToolsProtocol(HttpToolsProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_head = True
        self._received_in_head = 0  # bytes read while the head is unfinished (a head spread over many reads)
        self._parsed_head = 0  # bytes of request line and headers parsed (a whole head within one read)

    def data_received(self, data: bytes) -> None:
        self._unset_keepalive_if_required()
        if self._in_head:
            self._received_in_head += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            if isinstance(exc.__context__, HeadTooLarge):
                self._refuse()
                return
            self.logger.warning("Invalid HTTP request received.")
            self.send_400_response("Invalid HTTP request received.")
            return
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        if self._in_head and self._received_in_head > MAX_HEAD_BYTES:
            self._refuse()

    def _refuse(self) -> None:
        if not self.transport.is_closing():
            self.transport.write(REFUSAL)
            self.transport.close()

    def _count_head(self, size: int) -> None:
        self._parsed_head += size
        if self._parsed_head > MAX_HEAD_BYTES:
            raise HeadTooLarge

    def on_message_begin(self) -> None:
        self._parsed_head = 0
        super().on_message_begin()

    def on_url(self, url: bytes) -> None:
        self._count_head(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count_head(len(name) + len(value) + 4)
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head = False
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._in_head = True
        self._received_in_head = 0
        super().on_message_complete()
