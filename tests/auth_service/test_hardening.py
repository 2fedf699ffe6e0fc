"""Attacks on accounts, each test named after what it stops: parallel password guessing, probing which accounts
exist through the lockout, and rights that outlive a role change."""

import asyncio
import secrets

import bcrypt
import httpx

from services.auth_service.config import AuthSettings
from services.auth_service.main import create_app as create_auth
from tests.support import assert_error, serving, sql_scalar
from tests.support.settings import common_settings
from tests.support.stack import Stack
from tests.support.users import RegisteredUser, register_and_login

AUTH = "/api/v1/auth"


async def _guess_in_parallel(url: str, username: str, count: int) -> list[int]:
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        responses = await asyncio.gather(
            *(client.post("/login", json={"username": username, "password": f"guess-{n}"}) for n in range(count))
        )
    return [r.status_code for r in responses]


def test_parallel_password_guesses_cannot_outrun_the_lockout(
    stack: Stack, database_url: str, user: RegisteredUser
) -> None:
    # max_failed_logins is 3 in the test stack; straight to the auth-service, so no gateway rate limit helps.
    statuses = asyncio.run(_guess_in_parallel(stack.auth.url, user.username, 40))
    assert statuses == [401] * 40
    assert sql_scalar(database_url, "SELECT failed_login_attempts FROM users WHERE id = :u", u=user.id) == 3
    right = httpx.post(f"{stack.auth.url}/login", json={"username": user.username, "password": user.password})
    assert_error(right, 401, "invalid_credentials")


def test_a_locked_account_answers_like_an_unknown_one(gateway: httpx.Client, user: RegisteredUser, unique: str) -> None:
    for _ in range(3):
        gateway.post(f"{AUTH}/login", json={"username": user.username, "password": "wrong-password"})
    locked = gateway.post(f"{AUTH}/login", json={"username": user.username, "password": user.password})
    unknown = gateway.post(f"{AUTH}/login", json={"username": f"ghost{unique}", "password": user.password})
    assert assert_error(locked, 401) == assert_error(unknown, 401)
    assert "retry-after" not in locked.headers


def test_a_demoted_users_tokens_and_keys_lose_the_old_role_at_once(
    gateway: httpx.Client, admin_headers: dict[str, str], unique: str
) -> None:
    promoted = register_and_login(gateway, f"p{unique}")
    assert gateway.patch(f"{AUTH}/users/{promoted.id}/role", json={"role": "admin"}, headers=admin_headers).is_success
    token = gateway.post(f"{AUTH}/login", json={"username": promoted.username, "password": promoted.password}).json()
    as_admin = {"Authorization": f"Bearer {token['access_token']}"}
    key = gateway.post(f"{AUTH}/api-keys", json={"name": "k"}, headers=as_admin).json()["key"]
    assert gateway.get(f"{AUTH}/users", headers=as_admin).status_code == 200
    assert gateway.get(f"{AUTH}/users", headers={"X-API-Key": key}).status_code == 200  # now cached by the gateway

    demoted = gateway.patch(f"{AUTH}/users/{promoted.id}/role", json={"role": "user"}, headers=admin_headers)
    assert demoted.status_code == 200, demoted.text

    assert_error(gateway.get(f"{AUTH}/users", headers=as_admin), 401, "session_revoked")
    assert_error(gateway.get(f"{AUTH}/users", headers={"X-API-Key": key}), 403)


def test_passwords_are_stored_as_argon2id(gateway: httpx.Client, database_url: str, unique: str) -> None:
    user = register_and_login(gateway, f"a2{unique}")
    stored = sql_scalar(database_url, "SELECT password_hash FROM users WHERE id = :u", u=user.id)
    assert str(stored).startswith("$argon2id$")


def test_a_bcrypt_hash_from_before_still_logs_in_and_is_replaced(
    gateway: httpx.Client, database_url: str, unique: str
) -> None:
    user = register_and_login(gateway, f"bc{unique}")
    legacy = bcrypt.hashpw(user.password.encode(), bcrypt.gensalt(rounds=4)).decode()
    sql_scalar(database_url, "UPDATE users SET password_hash = :h WHERE id = :u RETURNING 1", h=legacy, u=user.id)
    login = gateway.post(f"{AUTH}/login", json={"username": user.username, "password": user.password})
    assert login.status_code == 200, login.text
    stored = sql_scalar(database_url, "SELECT password_hash FROM users WHERE id = :u", u=user.id)
    assert str(stored).startswith("$argon2id$")


def test_a_deactivated_users_tokens_and_keys_stop_at_once(
    gateway: httpx.Client, admin_headers: dict[str, str], unique: str
) -> None:
    user = register_and_login(gateway, f"d{unique}")
    key = gateway.post(f"{AUTH}/api-keys", json={"name": "k"}, headers=user.headers).json()["key"]
    assert gateway.get(f"{AUTH}/me", headers={"X-API-Key": key}).status_code == 200  # cached by the gateway
    off = gateway.patch(f"{AUTH}/users/{user.id}/active", json={"is_active": False}, headers=admin_headers)
    assert off.status_code == 200 and off.json()["is_active"] is False
    assert_error(gateway.get(f"{AUTH}/me", headers=user.headers), 401, "session_revoked")
    assert_error(gateway.get(f"{AUTH}/me", headers={"X-API-Key": key}), 401, "invalid_api_key")
    login = gateway.post(f"{AUTH}/login", json={"username": user.username, "password": user.password})
    assert_error(login, 401, "invalid_credentials")


def test_a_password_change_ends_every_session_of_whoever_held_the_old_one(gateway: httpx.Client, unique: str) -> None:
    user = register_and_login(gateway, f"pw{unique}")
    stolen = gateway.post(f"{AUTH}/login", json={"username": user.username, "password": user.password}).json()
    wrong = gateway.post(
        f"{AUTH}/me/password",
        json={"current_password": "not-it-at-all", "new_password": "x" * 12},
        headers=user.headers,
    )
    assert_error(wrong, 401, "invalid_credentials")
    changed = gateway.post(
        f"{AUTH}/me/password",
        json={"current_password": user.password, "new_password": "a-brand-new-password"},
        headers=user.headers,
    )
    assert changed.status_code == 204, changed.text
    assert_error(gateway.get(f"{AUTH}/me", headers={"Authorization": f"Bearer {stolen['access_token']}"}), 401)
    assert_error(gateway.post(f"{AUTH}/refresh", json={"refresh_token": stolen["refresh_token"]}), 401)
    old = gateway.post(f"{AUTH}/login", json={"username": user.username, "password": user.password})
    assert_error(old, 401, "invalid_credentials")
    new = gateway.post(f"{AUTH}/login", json={"username": user.username, "password": "a-brand-new-password"})
    assert new.status_code == 200


def test_a_restricted_api_key_cannot_mint_an_unrestricted_one(gateway: httpx.Client, user: RegisteredUser) -> None:
    limited = gateway.post(
        f"{AUTH}/api-keys",
        json={"name": "narrow", "allowed_models": ["gpt-4o-mini"], "rpm_limit": 5},
        headers=user.headers,
    )
    assert limited.status_code == 201, limited.text
    as_key = {"X-API-Key": limited.json()["key"]}
    assert_error(gateway.post(f"{AUTH}/api-keys", json={"name": "wide"}, headers=as_key), 403, "session_required")
    assert_error(gateway.get(f"{AUTH}/api-keys", headers=as_key), 403, "session_required")
    assert_error(gateway.delete(f"{AUTH}/api-keys/{limited.json()['id']}", headers=as_key), 403, "session_required")
    password = {"current_password": user.password, "new_password": "a-brand-new-password"}
    assert_error(gateway.post(f"{AUTH}/me/password", json=password, headers=as_key), 403, "session_required")
    assert gateway.get(f"{AUTH}/me", headers=as_key).status_code == 200  # the key still works for everything else
    assert [k["name"] for k in gateway.get(f"{AUTH}/api-keys", headers=user.headers).json()["items"]] == ["narrow"]


def test_an_api_key_keeps_the_tools_it_is_allowed(gateway: httpx.Client, user: RegisteredUser) -> None:
    tools = ["http_request", "mcp__github__*"]
    created = gateway.post(f"{AUTH}/api-keys", json={"name": "tools", "allowed_tools": tools}, headers=user.headers)
    assert created.status_code == 201 and created.json()["allowed_tools"] == tools, created.text
    listed = gateway.get(f"{AUTH}/api-keys", headers=user.headers).json()["items"]
    assert next(k for k in listed if k["name"] == "tools")["allowed_tools"] == tools
    for bad in (["rm -rf"], ["mcp__"], ["start_run"]):
        wrong = gateway.post(f"{AUTH}/api-keys", json={"name": "bad", "allowed_tools": bad}, headers=user.headers)
        assert_error(wrong, 422)


def test_guessing_the_current_password_locks_like_login(gateway: httpx.Client, database_url: str, unique: str) -> None:
    # max_failed_logins is 3 in the test stack; the lock it sets is what login checks too.
    user = register_and_login(gateway, f"pwg{unique}")
    for n in range(3):
        wrong = {"current_password": f"guess-number-{n}", "new_password": "a-brand-new-password"}
        assert_error(gateway.post(f"{AUTH}/me/password", json=wrong, headers=user.headers), 401, "invalid_credentials")
    counted = "SELECT failed_login_attempts || ':' || (locked_until IS NOT NULL) FROM users WHERE id = :u"
    assert sql_scalar(database_url, counted, u=user.id) == "3:true"


def test_the_refresh_cookie_is_secure_outside_development(database_url: str, redis_url: str, unique: str) -> None:
    """Behind a TLS proxy the auth-service sees plain HTTP: outside development the cookie is Secure regardless, so
    a browser never sends the refresh token over an unencrypted connection."""
    strong = {"jwt_secret": secrets.token_urlsafe(48), "internal_secret": secrets.token_urlsafe(48)}
    values = {**common_settings(database_url, redis_url), **strong, "environment": "production"}
    settings = AuthSettings.model_validate({**values, "password_time_cost": 1, "password_memory_kib": 1024})
    with serving(create_auth(settings)) as auth, httpx.Client(base_url=auth.url) as client:
        register_and_login(client, f"secure_{unique}", prefix="")
        login = client.post(
            "/login",
            json={"username": f"user_secure_{unique}", "password": "correct-horse-battery"},
            headers={"X-Refresh-Cookie": "true"},
        )
    cookie = login.headers["set-cookie"]
    assert login.json()["refresh_token"] is None and "cos_refresh=" in cookie
    assert all(flag in cookie for flag in ("HttpOnly", "SameSite=strict", "Secure", "Path=/api/v1/auth"))
