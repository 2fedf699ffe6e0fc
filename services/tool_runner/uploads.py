"""A multipart/form-data upload read as it arrives: the `file` part's bytes are handed on chunk by chunk (to the
storage), never gathered in memory or spooled to a temporary file first as Starlette's form parsing would."""

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from shared.errors import BadRequestError, UnprocessableError, UnsupportedMediaTypeError

FILE_FIELD = b"file"
MAX_PART_HEADER_BYTES = 8192


@dataclass
class _Part:
    headers: dict[bytes, bytes] = field(default_factory=dict)
    field_name: bytes = b""
    filename: str | None = None
    media_type: str | None = None


@dataclass
class MultipartUpload:
    """Feed it the body; after `start()` the file part's name and media type are known and `chunks()` yields its
    bytes (the parts after it are read and dropped)."""

    request: Request
    _parser: MultipartParser | None = None
    _body: AsyncIterator[bytes] | None = None
    _part: _Part | None = None
    _file: _Part | None = None
    _pending: list[bytes] = field(default_factory=list)
    _file_ended: bool = False
    _header_field: bytes = b""
    _header_value: bytes = b""

    async def start(self) -> tuple[str, str | None]:
        """Reads up to the file part's headers: its filename and its Content-Type (None when it gave none)."""
        content_type, options = parse_options_header(self.request.headers.get("content-type", ""))
        if content_type != b"multipart/form-data":
            raise UnsupportedMediaTypeError(
                "Upload a file as multipart/form-data with the file in a part named 'file'",
                details={"content_type": content_type.decode("latin-1")[:100]},
            )
        boundary = options.get(b"boundary")
        if not boundary:
            raise BadRequestError("The multipart body names no boundary", code="invalid_multipart")
        self._parser = MultipartParser(
            boundary,
            {
                "on_part_begin": self._on_part_begin,
                "on_part_data": self._on_part_data,
                "on_part_end": self._on_part_end,
                "on_header_field": self._on_header_field,
                "on_header_value": self._on_header_value,
                "on_header_end": self._on_header_end,
                "on_headers_finished": self._on_headers_finished,
            },
            max_header_size=MAX_PART_HEADER_BYTES,
        )
        self._body = self.request.stream()
        while self._file is None:
            if not await self._feed():
                raise UnprocessableError("The upload has no part named 'file' with a filename", code="missing_file")
        return self._file.filename or "", self._file.media_type

    async def chunks(self) -> AsyncIterator[bytes]:
        while True:
            while self._pending:
                yield self._pending.pop(0)
            if not await self._feed():
                break
        if not self._file_ended:
            raise BadRequestError("The upload ended inside the file part", code="invalid_multipart")

    async def _feed(self) -> bool:
        """One more chunk of the body into the parser; False at the body's end."""
        assert self._parser is not None and self._body is not None
        try:
            chunk = await anext(self._body)
        except StopAsyncIteration:
            return False
        try:
            self._parser.write(chunk)
        except Exception as exc:  # python-multipart raises its own errors (and ValueError) for a malformed body
            raise BadRequestError(f"Malformed multipart body: {exc}"[:300], code="invalid_multipart") from exc
        return True

    def _on_part_begin(self) -> None:
        self._part = _Part()

    def _on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_field += data[start:end]

    def _on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _on_header_end(self) -> None:
        assert self._part is not None
        self._part.headers[self._header_field.lower()] = self._header_value
        self._header_field = self._header_value = b""

    def _on_headers_finished(self) -> None:
        part = self._part
        assert part is not None
        _, disposition = parse_options_header(part.headers.get(b"content-disposition", b""))
        part.field_name = disposition.get(b"name", b"")
        if part.field_name == FILE_FIELD and self._file is None and b"filename" in disposition:
            part.filename = disposition[b"filename"].decode("utf-8", errors="replace")
            media_type = part.headers.get(b"content-type")
            part.media_type = media_type.decode("latin-1").strip() if media_type else None
            self._file = part

    def _on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._file is not None and self._part is self._file and not self._file_ended:
            self._pending.append(data[start:end])

    def _on_part_end(self) -> None:
        if self._part is not None and self._part is self._file:
            self._file_ended = True
