"""auth-service behaviour, through the gateway (the public path) and directly."""

import time
import uuid

import httpx

from tests.support import assert_error
from tests.support.settings import ADMIN_PASSWORD
from tests.support.users import RegisteredUser, register_and_login

AUTH = "/api/v1/auth"


class TestRegister:
    def test_returns_user_without_password_hash(self, gateway: httpx.Client, unique: str) -> None:
        response = gateway.post(
            f"{AUTH}/register",
            json={"username": f"ada.{unique}", "email": f"Ada.{unique}@Example.com", "password": "longenough"},
        )
        assert response.status_code == 201
        body = response.json()
        assert body["username"] == f"ada.{unique}"
        assert body["email"] == f"ada.{unique}@example.com"
        assert body["role"] == "user"
        assert "password" not in response.text and "hash" not in response.text

    def test_duplicate_username_or_email_is_409_without_saying_which(
        self, gateway: httpx.Client, user: RegisteredUser, unique: str
    ) -> None:
        same_name = gateway.post(
            f"{AUTH}/register",
            json={"username": user.username.upper(), "email": f"other{unique}@example.com", "password": "longenough"},
        )
        name_taken = assert_error(same_name, 409, "already_exists")
        same_email = gateway.post(
            f"{AUTH}/register",
            json={"username": f"other{unique}", "email": user.email.upper(), "password": "longenough"},
        )
        assert assert_error(same_email, 409, "already_exists") == name_taken

    def test_rejects_bad_input_with_422(self, gateway: httpx.Client, unique: str) -> None:
        cases = [
            {"username": "ab", "email": f"a{unique}@example.com", "password": "longenough"},
            {"username": "bad name!", "email": f"a{unique}@example.com", "password": "longenough"},
            {"username": f"ok{unique}", "email": "not-an-email", "password": "longenough"},
            {"username": f"ok{unique}", "email": f"a{unique}@example.com", "password": "short"},
            {"username": f"ok{unique}", "email": f"a{unique}@example.com", "password": "x" * 129},
            {"username": f"ok{unique}", "email": f"a{unique}@example.com"},
        ]
        for body in cases:
            assert_error(gateway.post(f"{AUTH}/register", json=body), 422, "validation_error")
        assert_error(
            gateway.post(f"{AUTH}/register", content=b"{not json", headers={"content-type": "application/json"}), 422
        )


class TestLogin:
    def test_by_username_or_email(self, gateway: httpx.Client, user: RegisteredUser) -> None:
        for credentials in ({"username": user.username}, {"email": user.email}, {"username": user.email}):
            response = gateway.post(f"{AUTH}/login", json={**credentials, "password": user.password})
            assert response.status_code == 200, response.text
            body = response.json()
            assert body["token_type"] == "bearer" and body["expires_in"] == 15 * 60
            assert body["access_token"] and body["refresh_token"]

    def test_bad_credentials_do_not_say_which_part(
        self, gateway: httpx.Client, user: RegisteredUser, unique: str
    ) -> None:
        wrong_password = gateway.post(f"{AUTH}/login", json={"username": user.username, "password": "wrong-password"})
        unknown_user = gateway.post(f"{AUTH}/login", json={"username": f"ghost{unique}", "password": "wrong-password"})
        assert assert_error(wrong_password, 401)["message"] == assert_error(unknown_user, 401)["message"]

    def test_needs_an_identifier(self, gateway: httpx.Client) -> None:
        assert_error(gateway.post(f"{AUTH}/login", json={"password": "x"}), 422, "validation_error")

    def test_locks_account_after_repeated_failures(self, gateway: httpx.Client, user: RegisteredUser) -> None:
        for _ in range(3):
            assert_error(gateway.post(f"{AUTH}/login", json={"username": user.username, "password": "nope-nope"}), 401)
        locked = gateway.post(f"{AUTH}/login", json={"username": user.username, "password": user.password})
        assert_error(locked, 401, "invalid_credentials")
        time.sleep(2.1)
        assert (
            gateway.post(f"{AUTH}/login", json={"username": user.username, "password": user.password}).status_code
            == 200
        )


class TestTokens:
    def test_me_through_gateway_and_direct(
        self, gateway: httpx.Client, auth_direct: httpx.Client, user: RegisteredUser
    ) -> None:
        via_gateway = gateway.get(f"{AUTH}/me", headers=user.headers)
        direct = auth_direct.get("/me", headers=user.headers)
        assert via_gateway.json()["id"] == direct.json()["id"] == user.id
        assert_error(auth_direct.get("/me"), 401)

    def test_refresh_rotates_and_reuse_revokes_the_family(self, gateway: httpx.Client, user: RegisteredUser) -> None:
        first = gateway.post(f"{AUTH}/refresh", json={"refresh_token": user.refresh_token})
        assert first.status_code == 200, first.text
        rotated = first.json()
        assert rotated["refresh_token"] != user.refresh_token
        assert (
            gateway.get(f"{AUTH}/me", headers={"Authorization": f"Bearer {rotated['access_token']}"}).status_code == 200
        )

        reuse = gateway.post(f"{AUTH}/refresh", json={"refresh_token": user.refresh_token})
        assert_error(reuse, 401, "refresh_token_reused")
        # The thief's replay ended the whole session: the newest tokens die too.
        assert_error(
            gateway.post(f"{AUTH}/refresh", json={"refresh_token": rotated["refresh_token"]}), 401, "session_revoked"
        )
        assert_error(
            gateway.get(f"{AUTH}/me", headers={"Authorization": f"Bearer {rotated['access_token']}"}),
            401,
            "session_revoked",
        )

    def test_logout_revokes_access_and_refresh(self, gateway: httpx.Client, user: RegisteredUser) -> None:
        assert gateway.post(f"{AUTH}/logout", headers=user.headers).status_code == 204
        assert_error(gateway.get(f"{AUTH}/me", headers=user.headers), 401, "session_revoked")
        assert_error(
            gateway.post(f"{AUTH}/refresh", json={"refresh_token": user.refresh_token}), 401, "session_revoked"
        )

    def test_refresh_token_is_not_an_access_token(self, gateway: httpx.Client, user: RegisteredUser) -> None:
        assert_error(
            gateway.get(f"{AUTH}/me", headers={"Authorization": f"Bearer {user.refresh_token}"}), 401, "invalid_token"
        )
        assert_error(gateway.post(f"{AUTH}/refresh", json={"refresh_token": user.access_token}), 401, "invalid_token")
        assert_error(gateway.post(f"{AUTH}/refresh", json={"refresh_token": "garbage"}), 401, "invalid_token")


class TestAdmin:
    def test_list_users_and_change_role(
        self, gateway: httpx.Client, admin_headers: dict[str, str], user: RegisteredUser
    ) -> None:
        listing = gateway.get(f"{AUTH}/users", headers=admin_headers, params={"limit": 1})
        assert listing.status_code == 200 and len(listing.json()["items"]) == 1
        following = gateway.get(
            f"{AUTH}/users", headers=admin_headers, params={"limit": 1, "cursor": listing.json()["next_cursor"]}
        ).json()["items"]
        assert following and following[0]["id"] != listing.json()["items"][0]["id"]
        promoted = gateway.patch(f"{AUTH}/users/{user.id}/role", headers=admin_headers, json={"role": "agent"})
        assert promoted.status_code == 200 and promoted.json()["role"] == "agent"
        relogin = gateway.post(f"{AUTH}/login", json={"username": user.username, "password": user.password}).json()
        me = gateway.get(f"{AUTH}/me", headers={"Authorization": f"Bearer {relogin['access_token']}"})
        assert me.json()["role"] == "agent"

    def test_admin_routes_refuse_other_roles(
        self, gateway: httpx.Client, auth_direct: httpx.Client, user: RegisteredUser
    ) -> None:
        assert_error(gateway.get(f"{AUTH}/users", headers=user.headers), 403, "forbidden")
        assert_error(gateway.patch(f"{AUTH}/users/{user.id}/role", headers=user.headers, json={"role": "admin"}), 403)
        # The service enforces the role itself as well, not only the gateway.
        assert_error(auth_direct.get("/users", headers=user.headers), 403)

    def test_bad_role_and_unknown_user(
        self, gateway: httpx.Client, admin_headers: dict[str, str], user: RegisteredUser
    ) -> None:
        assert_error(gateway.patch(f"{AUTH}/users/{user.id}/role", headers=admin_headers, json={"role": "god"}), 422)
        assert_error(
            gateway.patch(f"{AUTH}/users/{uuid.uuid4()}/role", headers=admin_headers, json={"role": "user"}), 404
        )
        assert_error(gateway.patch(f"{AUTH}/users/not-a-uuid/role", headers=admin_headers, json={"role": "user"}), 422)

    def test_admin_cannot_demote_itself(self, gateway: httpx.Client, admin_headers: dict[str, str]) -> None:
        me = gateway.get(f"{AUTH}/me", headers=admin_headers).json()
        assert_error(
            gateway.patch(f"{AUTH}/users/{me['id']}/role", headers=admin_headers, json={"role": "user"}),
            403,
            "self_demotion",
        )


class TestApiKeys:
    def test_create_use_list_revoke(self, gateway: httpx.Client, user: RegisteredUser) -> None:
        created = gateway.post(f"{AUTH}/api-keys", headers=user.headers, json={"name": "ci", "expires_in_days": 30})
        assert created.status_code == 201, created.text
        key = created.json()["key"]
        assert key.startswith("cos_")

        for headers in ({"X-API-Key": key}, {"Authorization": f"Bearer {key}"}):
            me = gateway.get(f"{AUTH}/me", headers=headers)
            assert me.status_code == 200 and me.json()["id"] == user.id

        listed = gateway.get(f"{AUTH}/api-keys", headers=user.headers).json()["items"]
        assert [k["name"] for k in listed] == ["ci"] and "key" not in listed[0]

        revoked = gateway.delete(f"{AUTH}/api-keys/{created.json()['id']}", headers=user.headers)
        assert revoked.status_code == 200 and revoked.json()["revoked_at"]
        assert_error(gateway.get(f"{AUTH}/me", headers={"X-API-Key": key}), 401, "invalid_api_key")

    def test_other_users_keys_are_invisible(self, gateway: httpx.Client, user: RegisteredUser, unique: str) -> None:
        key_id = gateway.post(f"{AUTH}/api-keys", headers=user.headers, json={"name": "mine"}).json()["id"]
        other = register_and_login(gateway, f"o{unique}")
        assert_error(gateway.delete(f"{AUTH}/api-keys/{key_id}", headers=other.headers), 404)
        assert gateway.get(f"{AUTH}/api-keys", headers=other.headers).json() == {"items": [], "next_cursor": None}

    def test_bad_input(self, gateway: httpx.Client, user: RegisteredUser) -> None:
        assert_error(gateway.post(f"{AUTH}/api-keys", headers=user.headers, json={"name": ""}), 422)
        assert_error(
            gateway.post(f"{AUTH}/api-keys", headers=user.headers, json={"name": "x", "expires_in_days": 0}), 422
        )
        assert_error(gateway.get(f"{AUTH}/me", headers={"X-API-Key": "cos_dead_beef"}), 401, "invalid_api_key")


def test_bootstrap_admin_exists(gateway: httpx.Client) -> None:
    tokens = gateway.post(f"{AUTH}/login", json={"email": "root@example.com", "password": ADMIN_PASSWORD}).json()
    me = gateway.get(f"{AUTH}/me", headers={"Authorization": f"Bearer {tokens['access_token']}"}).json()
    assert me["role"] == "admin"
