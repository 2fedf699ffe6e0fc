"""The Helm chart renders the same objects as deploy/k8s, plus an autoscaler and a disruption budget per service.

No `helm` binary can be installed on these machines (not on PyPI, npm or Debian; building it needs Go's module proxy).
The documented, equivalent check: tests/deploy/helm_render renders the chart with Go's text/template, Helm's own
template engine, over all templates with the values, release and chart objects Helm passes and the Helm/Sprig
functions the chart uses; the objects are then compared with deploy/k8s and validated with `kubernetes-validate`.
"""

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from shared.services import SERVICES
from tests.support.deploy import ROOT, tool

CHART = ROOT / "deploy" / "helm" / "cognitionos"
RENDERER = Path(__file__).parent / "helm_render" / "main.go"

pytestmark = pytest.mark.skipif(
    shutil.which("go") is None, reason="Go is not installed (scripts/test.sh installs Debian's golang-go as root)"
)


def render(tmp_path: Path, **overrides: Any) -> list[dict[str, Any]]:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    for path, value in overrides.items():
        target = values
        *parents, leaf = path.split(".")
        for key in parents:
            target = target[key]
        target[leaf] = value
    rendered = subprocess.run(
        ["go", "run", str(RENDERER), str(CHART), "cognitionos", "cognitionos"],
        input=json.dumps(values),
        capture_output=True,
        text=True,
        env={
            "HOME": str(tmp_path),
            "GOCACHE": str(tmp_path / "go-cache"),
            "PATH": "/usr/bin:/bin",
            "GOFLAGS": "-mod=mod",
        },
        timeout=300,
    )
    assert rendered.returncode == 0, rendered.stderr
    (tmp_path / "rendered.yaml").write_text(rendered.stdout)
    return [d for d in yaml.safe_load_all(rendered.stdout) if d]


def _by_identity(documents: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(d["kind"], d["metadata"]["name"]): d for d in documents}


def _manifests(folder: Path) -> list[dict[str, Any]]:
    return [d for p in sorted(folder.glob("*.yaml")) for d in yaml.safe_load_all(p.read_text()) if d]


def test_the_chart_renders_the_kubernetes_manifests_plus_autoscalers_and_disruption_budgets(tmp_path: Path) -> None:
    rendered = _by_identity(render(tmp_path))
    expected = _by_identity(_manifests(ROOT / "deploy" / "k8s"))
    for identity, manifest in expected.items():
        assert rendered.get(identity) == manifest, identity
    extra = set(rendered) - set(expected)
    assert extra == {
        (kind, spec.name) for spec in SERVICES for kind in ("HorizontalPodAutoscaler", "PodDisruptionBudget")
    }
    for spec in SERVICES:
        scaler = rendered[("HorizontalPodAutoscaler", spec.name)]["spec"]
        assert scaler["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": spec.name}
        assert scaler["minReplicas"] == 2 and scaler["maxReplicas"] > scaler["minReplicas"]
        budget = rendered[("PodDisruptionBudget", spec.name)]["spec"]
        assert budget == {"minAvailable": 1, "selector": {"matchLabels": {"app.kubernetes.io/name": spec.name}}}
    validated = subprocess.run(
        [tool("kubernetes-validate"), "--strict", str(tmp_path / "rendered.yaml")], capture_output=True, text=True
    )
    assert validated.returncode == 0, validated.stdout + validated.stderr


def test_values_switch_the_tool_runner_to_gvisor_and_secrets_to_an_existing_one(tmp_path: Path) -> None:
    rendered = _by_identity(
        render(
            tmp_path,
            **{
                "services.tool-runner.sandbox": {"runtimeClassName": "gvisor", "seccompProfile": ""},
                "existingSecret": "managed-elsewhere",
                "autoscaling.enabled": False,
            },
        )
    )
    gvisor = _by_identity(_manifests(ROOT / "deploy" / "k8s" / "variants" / "gvisor"))
    tool_runner = rendered[("Deployment", "tool-runner")]
    expected = json.loads(
        json.dumps(gvisor[("Deployment", "tool-runner")]).replace("cognitionos-secrets", "managed-elsewhere")
    )
    assert tool_runner == expected
    assert ("Secret", "cognitionos-secrets") not in rendered
    assert not any(kind == "HorizontalPodAutoscaler" for kind, _ in rendered)


def test_local_file_storage_mounts_one_claim_in_every_tool_runner(tmp_path: Path) -> None:
    rendered = _by_identity(
        render(tmp_path, **{"files.storage": "local", "files.persistence": {**_persistence(), "enabled": True}})
    )
    claim = rendered[("PersistentVolumeClaim", "tool-runner-files")]["spec"]
    assert claim["accessModes"] == ["ReadWriteMany"] and claim["resources"]["requests"]["storage"] == "50Gi"
    pod = rendered[("Deployment", "tool-runner")]["spec"]["template"]["spec"]
    assert {"name": "files", "persistentVolumeClaim": {"claimName": "tool-runner-files"}} in pod["volumes"]
    mounts = pod["containers"][0]["volumeMounts"]
    assert {"name": "files", "mountPath": "/var/lib/cognitionos/files"} in mounts
    assert rendered[("ConfigMap", "cognitionos-config")]["data"]["FILES_STORAGE"] == "local"
    others = rendered[("Deployment", "agent-orchestrator")]["spec"]["template"]["spec"]["volumes"]
    assert all(v["name"] != "files" for v in others)


def _persistence() -> dict[str, Any]:
    return dict(yaml.safe_load((CHART / "values.yaml").read_text())["files"]["persistence"])
