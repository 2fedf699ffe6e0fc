"""Users as the tests act as them: registered through the gateway, made in the database, or signed as the gateway
signs them for a service called directly."""

import asyncio
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import create_async_engine

from database.models import User
from shared.identity import Identity, sign_identity
from tests.support.settings import INTERNAL_SECRET


@dataclass
class RegisteredUser:
    id: str
    username: str
    email: str
    password: str
    access_token: str
    refresh_token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


def register_and_login(client: httpx.Client, suffix: str, prefix: str = "/api/v1/auth") -> RegisteredUser:
    username, email, password = f"user_{suffix}", f"user_{suffix}@example.com", "correct-horse-battery"
    created = client.post(f"{prefix}/register", json={"username": username, "email": email, "password": password})
    assert created.status_code == 201, created.text
    tokens = client.post(f"{prefix}/login", json={"username": username, "password": password})
    assert tokens.status_code == 200, tokens.text
    body = tokens.json()
    return RegisteredUser(created.json()["id"], username, email, password, body["access_token"], body["refresh_token"])


def make_user(database_url: str) -> str:
    user_id = uuid.uuid4()

    async def create() -> None:
        engine = create_async_engine(database_url)
        async with engine.begin() as connection:
            await connection.execute(
                insert(User).values(
                    id=user_id, username=f"m_{user_id.hex[:12]}", email=f"{user_id.hex}@example.com", password_hash="x"
                )
            )
        await engine.dispose()

    asyncio.run(create())
    return str(user_id)


def identity_headers(user_id: str | None = None, role: str = "user", api_key_id: str | None = None) -> dict[str, str]:
    identity = Identity(
        user_id=user_id or str(uuid.uuid4()),
        username="tester",
        role=role,  # type: ignore[arg-type]
        auth_method="api_key" if api_key_id else "jwt",
        api_key_id=api_key_id,
    )
    return sign_identity(identity, INTERNAL_SECRET)


def signed_client(
    user_id: str, role: str = "user", base_url: str = "", timeout: float = 60, api_key_id: str | None = None
) -> httpx.Client:
    """A client calling services directly as the gateway would for this user: identity re-signed on every request
    (a signature is only good for a few minutes)."""

    def sign(request: httpx.Request) -> None:
        request.headers.update(identity_headers(user_id, role, api_key_id))

    return httpx.Client(base_url=base_url, timeout=timeout, event_hooks={"request": [sign]})


class Caller:
    """A memory-service client signed as one user (or role)."""

    def __init__(self, url: str, user_id: str, role: str = "user") -> None:
        self.user_id = user_id
        self.client = signed_client(user_id, role, base_url=url)

    def remember(self, content: str, **fields: Any) -> dict[str, Any]:
        response = self.client.post("/memories", json={"content": content, **fields})
        assert response.status_code in (200, 201), response.text
        return response.json()

    def retrieve(self, query: str, **fields: Any) -> list[dict[str, Any]]:
        response = self.client.post("/memories/retrieve", json={"query": query, **fields})
        assert response.status_code == 200, response.text
        return response.json()
