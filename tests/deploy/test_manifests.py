"""The production path is validated offline: real `docker compose config` and `kubernetes-validate --strict`."""

import importlib
import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from shared.config import BaseServiceSettings, secret_problem
from shared.services import SERVICES, ServiceSpec
from tests.support.deploy import ROOT, compose_binary, tool


@pytest.fixture(scope="module")
def compose_env(tmp_path_factory: pytest.TempPathFactory) -> Path:
    env = tmp_path_factory.mktemp("compose") / ".env"
    env.write_text(
        "POSTGRES_PASSWORD=p\nJWT_SECRET=j\nINTERNAL_SECRET=i\nENCRYPTION_KEY=e\nREDIS_PASSWORD=r\nGRAFANA_ADMIN_PASSWORD=g\n"
    )
    return env


def test_compose_config_is_valid(compose_env: Path) -> None:
    result = subprocess.run(
        [compose_binary(), "--env-file", str(compose_env), "-f", "docker-compose.yml", "config", "-q"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr


def test_compose_refuses_to_run_without_secrets(tmp_path: Path) -> None:
    empty = tmp_path / ".env"
    empty.write_text("")
    result = subprocess.run(
        [compose_binary(), "--env-file", str(empty), "-f", "docker-compose.yml", "config", "-q"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    # Compose names the first missing secret it meets, and meets the services in no fixed order (a Go map): any of
    # the file's required secrets may be the one named, the observability profile's Grafana password included.
    required = set(re.findall(r"\$\{([A-Z_]+):\?", (ROOT / "docker-compose.yml").read_text()))
    assert {"POSTGRES_PASSWORD", "JWT_SECRET", "INTERNAL_SECRET", "ENCRYPTION_KEY", "REDIS_PASSWORD"} <= required
    named = re.search(r"([A-Z_]+) is missing a value", result.stderr)
    assert named and named.group(1) in required, result.stderr


def test_compose_runs_every_service_after_migrations(compose_env: Path) -> None:
    result = subprocess.run(
        [compose_binary(), "--env-file", str(compose_env), "-f", "docker-compose.yml", "config", "--format", "yaml"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    services = yaml.safe_load(result.stdout)["services"]
    assert services["postgres"]["image"].startswith("pgvector/pgvector")
    assert "redis" in services and services["migrate"]["command"] == ["python", "-m", "database.migrate"]
    for spec in SERVICES:
        service = services[spec.name]
        assert service["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert "healthcheck" in service
        assert service["environment"]["REDIS_URL"] == "redis://:r@redis:6379/0"  # with REDIS_PASSWORD
    assert [p["published"] for p in services["api-gateway"]["ports"]] == ["8000"]


def _dockerfile_stages() -> dict[str, str]:
    stages: dict[str, str] = {}
    for block in re.split(r"^(?=FROM )", (ROOT / "Dockerfile").read_text(), flags=re.M):
        match = re.match(r"FROM \S+ AS (\S+)", block)
        if match:
            stages[match.group(1)] = block
    return stages


def test_runtime_stage_is_slim_and_non_root() -> None:
    runtime = _dockerfile_stages()["runtime"]
    assert "ARG BASE_IMAGE=python:3.11-slim" in (ROOT / "Dockerfile").read_text()
    assert runtime.startswith("FROM ${BASE_IMAGE} AS runtime") and "build-essential" not in runtime
    assert re.search(r"^USER (?!root)\S+", runtime, re.M)


def test_an_image_run_without_its_settings_refuses_the_public_development_secrets() -> None:
    runtime = _dockerfile_stages()["runtime"]
    assert re.search(r"^ENV .*\bENVIRONMENT=production\b", runtime, re.M)
    with pytest.raises(ValueError, match="refuses to start with ENVIRONMENT=production"):
        BaseServiceSettings(environment="production", _env_file=None)


@pytest.mark.parametrize("spec", SERVICES, ids=[s.name for s in SERVICES])
def test_every_service_caps_request_heads(spec: ServiceSpec) -> None:
    assert '"--http", "shared.http_protocol:CappedHttpToolsProtocol"' in _dockerfile_stages()[spec.name]


@pytest.mark.parametrize("spec", SERVICES, ids=[s.name for s in SERVICES])
def test_each_service_has_its_own_image_target(spec: ServiceSpec, compose_env: Path) -> None:
    stage = _dockerfile_stages()[spec.name]
    assert stage.startswith("FROM runtime AS")
    assert f'"{spec.app_factory}"' in stage and f'"{spec.port}"' in stage and "HEALTHCHECK" in stage
    module, factory = spec.app_factory.split(":")
    assert callable(getattr(importlib.import_module(module), factory))
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert compose["services"][spec.name]["build"]["target"] == spec.name


def test_kubernetes_manifests_validate_strictly() -> None:
    manifests = sorted(str(p) for p in (ROOT / "deploy" / "k8s").rglob("*.yaml"))
    result = subprocess.run([tool("kubernetes-validate"), "--strict", *manifests], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def _documents(folder: Path) -> list[dict]:
    return [d for p in sorted(folder.glob("*.yaml")) for d in yaml.safe_load_all(p.read_text()) if d]


def test_the_tool_runner_gets_exactly_what_its_sandbox_needs_in_compose_and_kubernetes(compose_env: Path) -> None:
    """Never privileged: a seccomp profile of our own and an unmasked /proc (or gVisor), no capabilities."""
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["tool-runner"]
    assert compose["security_opt"] == [
        "seccomp=./deploy/docker/seccomp-sandbox.json",
        "systempaths=unconfined",
        "no-new-privileges:true",
    ]
    assert compose["cap_drop"] == ["ALL"] and compose["read_only"] and not compose.get("privileged")
    profile = json.loads((ROOT / "deploy" / "docker" / "seccomp-sandbox.json").read_text())
    refused = set(profile["syscalls"][0]["names"])
    assert {"bpf", "keyctl", "ptrace", "kexec_load", "init_module", "userfaultfd", "open_by_handle_at"} <= refused
    assert not {"clone", "clone3", "unshare", "mount", "umount2", "pivot_root", "prctl"} & refused  # bwrap's own

    default = next(d for d in _documents(ROOT / "deploy" / "k8s") if d["metadata"]["name"] == "tool-runner")
    pod = default["spec"]["template"]["spec"]
    assert pod["hostUsers"] is False and pod["securityContext"]["seccompProfile"] == {
        "type": "Localhost",
        "localhostProfile": "cognitionos/seccomp-sandbox.json",
    }
    container = pod["containers"][0]["securityContext"]
    assert container["procMount"] == "Unmasked" and container["capabilities"] == {"drop": ["ALL"]}
    assert not container.get("privileged") and container["allowPrivilegeEscalation"] is False

    gvisor = _documents(ROOT / "deploy" / "k8s" / "variants" / "gvisor")
    runtime_class = next(d for d in gvisor if d["kind"] == "RuntimeClass")
    pod = next(d for d in gvisor if d["kind"] == "Deployment")["spec"]["template"]["spec"]
    assert pod["runtimeClassName"] == runtime_class["metadata"]["name"] and runtime_class["handler"] == "runsc"
    assert pod["containers"][0]["securityContext"]["capabilities"] == {"drop": ["ALL"]}


def test_kubernetes_has_deployment_and_service_per_service() -> None:
    documents = [d for p in (ROOT / "deploy" / "k8s").glob("*.yaml") for d in yaml.safe_load_all(p.read_text()) if d]
    kinds = {(d["kind"], d["metadata"]["name"]) for d in documents}
    for spec in SERVICES:
        assert ("Deployment", spec.name) in kinds and ("Service", spec.name) in kinds
        deployment = next(d for d in documents if d["kind"] == "Deployment" and d["metadata"]["name"] == spec.name)
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        assert container["livenessProbe"]["httpGet"]["path"] == "/health"
        assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
        assert container["resources"]["limits"] and container["resources"]["requests"]
    assert ("Secret", "cognitionos-secrets") in kinds and ("ConfigMap", "cognitionos-config") in kinds
    assert ("Job", "cognitionos-migrate") in kinds


def test_only_the_gateway_is_reachable_from_outside_the_namespace() -> None:
    documents = [d for p in (ROOT / "deploy" / "k8s").glob("*.yaml") for d in yaml.safe_load_all(p.read_text()) if d]
    policies = {d["metadata"]["name"]: d for d in documents if d["kind"] == "NetworkPolicy"}
    internal = policies["services-only-from-cognitionos"]["spec"]
    assert internal["podSelector"]["matchExpressions"][0]["values"] == ["api-gateway"]
    assert internal["ingress"] == [
        {"from": [{"podSelector": {"matchLabels": {"app.kubernetes.io/part-of": "cognitionos"}}}]}
    ]
    gateway = policies["gateway-from-anywhere"]["spec"]
    assert gateway["ingress"] == [{"ports": [{"port": 8000, "protocol": "TCP"}]}]


def test_manifest_placeholders_are_refused_by_the_services() -> None:
    documents = [d for p in (ROOT / "deploy" / "k8s").glob("*.yaml") for d in yaml.safe_load_all(p.read_text()) if d]
    secret = next(d for d in documents if d["kind"] == "Secret")["stringData"]
    for name in ("JWT_SECRET", "INTERNAL_SECRET", "ENCRYPTION_KEY"):
        assert secret_problem(secret[name]) is not None, name


def test_every_service_is_scraped_and_the_dashboard_covers_each_area(compose_env: Path) -> None:
    documents = [d for p in (ROOT / "deploy" / "k8s").glob("*.yaml") for d in yaml.safe_load_all(p.read_text()) if d]
    for spec in SERVICES:
        deployment = next(d for d in documents if d["kind"] == "Deployment" and d["metadata"]["name"] == spec.name)
        annotations = deployment["spec"]["template"]["metadata"]["annotations"]
        assert annotations == {
            "prometheus.io/scrape": "true",
            "prometheus.io/port": str(spec.port),
            "prometheus.io/path": "/metrics",
        }
    scrape = yaml.safe_load((ROOT / "deploy" / "observability" / "prometheus.yml").read_text())
    targets = {t for job in scrape["scrape_configs"] for c in job["static_configs"] for t in c["targets"]}
    assert targets == {f"{spec.name}:{spec.port}" for spec in SERVICES}
    dashboard = json.loads(
        (ROOT / "deploy" / "observability" / "grafana" / "dashboards" / "cognitionos.json").read_text()
    )
    queries = " ".join(t["expr"] for panel in dashboard["panels"] for t in panel["targets"])
    for metric in (
        "http_requests_total",
        "llm_cost_usd_total",
        "tasks_finished_total",
        "memory_search_seconds",
        "tool_runs_total",
        "gateway_upstream_errors_total",
    ):
        assert f"cognitionos_{metric}" in queries, metric
    result = subprocess.run(
        [
            compose_binary(),
            "--env-file",
            str(compose_env),
            "-f",
            "docker-compose.yml",
            "--profile",
            "observability",
            "config",
            "--format",
            "yaml",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    services = yaml.safe_load(result.stdout)["services"]
    assert {"prometheus", "grafana"} <= set(services)


def test_every_model_weight_package_is_pinned_by_its_sha256() -> None:
    """Third-party weights were pinned by version only: a re-uploaded package would have been loaded unchecked."""
    text = (ROOT / "requirements-models.txt").read_text()
    requirements = [line.split()[0] for line in text.replace("\\\n", " ").splitlines() if "==" in line]
    hashed = re.findall(r"(\S+==\S+)\s+--hash=sha256:[0-9a-f]{64}", text.replace("\\\n", " "))
    assert requirements and sorted(hashed) == sorted(requirements)
