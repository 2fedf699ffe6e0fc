"""A webhook receiver on a real port: it keeps each request and answers as scripted (a status, or "hang" until
released), then 200."""

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from fastapi import FastAPI, Request, Response

from tests.support import ThreadedServer, serving


@dataclass(frozen=True)
class Received:
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    server: ThreadedServer
    answers: list[int | str] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    released: threading.Event = field(default_factory=threading.Event)

    @property
    def url(self) -> str:
        return f"{self.server.url}/hook"

    def answer(self, *answers: int | str) -> "Receiver":
        self.answers.extend(answers)
        return self


@contextmanager
def webhook_receiver() -> Iterator[Receiver]:
    app = FastAPI()
    holder: list[Receiver] = []

    @app.post("/hook")
    async def hook(request: Request) -> Response:
        receiver = holder[0]
        receiver.received.append(Received(dict(request.headers), await request.body()))
        answer = receiver.answers.pop(0) if receiver.answers else 200
        if answer == "hang":
            await asyncio.to_thread(receiver.released.wait, 60)
            answer = 200
        return Response(status_code=int(answer))

    with serving(app) as server:
        receiver = Receiver(server)
        holder.append(receiver)
        try:
            yield receiver
        finally:
            receiver.released.set()
