"""`cognitionos audit list|export|verify` as an admin, through the gateway."""

import json
from pathlib import Path

import httpx
from typer.testing import CliRunner

from cognitionos_cli.main import app
from tests.support import ThreadedServer


def test_an_admin_lists_exports_and_verifies_the_log(
    platform_gateway: ThreadedServer, admin_headers: dict[str, str], tmp_path: Path, unique: str
) -> None:
    made = httpx.post(f"{platform_gateway.url}/api/v1/auth/api-keys", headers=admin_headers, json={"name": "audit cli"})
    key = made.json()["key"]
    env = {
        "API_GATEWAY_URL": platform_gateway.url,
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "COGNITIONOS_API_KEY": key,
    }

    def cognitionos(*args: str) -> tuple[int, str]:
        result = CliRunner().invoke(app, list(args), env=env)
        return result.exit_code, result.output

    code, out = cognitionos("audit", "verify")
    assert code == 0 and "audit log intact" in out, out
    code, out = cognitionos("audit", "list", "--action", "api_key.*", "--limit", "5")
    assert code == 0 and "api_key.created" in out and "root_admin" in out, out
    code, out = cognitionos("audit", "export", str(tmp_path / "audit.jsonl"), "--action", "api_key.created")
    assert code == 0, out
    exported = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    assert exported and {e["action"] for e in exported} == {"api_key.created"} and key not in json.dumps(exported)

    with httpx.Client(base_url=platform_gateway.url) as client:
        client.post(
            "/api/v1/auth/register",
            json={
                "username": f"not_admin_{unique}",
                "email": f"{unique}@example.com",
                "password": "correct-horse-battery",
            },
        )
        token = client.post(
            "/api/v1/auth/login", json={"username": f"not_admin_{unique}", "password": "correct-horse-battery"}
        ).json()
        user_key = client.post(
            "/api/v1/auth/api-keys", headers={"Authorization": f"Bearer {token['access_token']}"}, json={"name": "x"}
        ).json()["key"]
    result = CliRunner().invoke(app, ["audit", "verify"], env={**env, "COGNITIONOS_API_KEY": user_key})
    assert result.exit_code == 1 and "403 forbidden" in result.output, result.output
