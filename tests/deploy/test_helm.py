"""The Helm chart: helm lint, helm template under several value sets, and every rendered
object validated strictly against the Kubernetes API schemas (kubernetes-validate)."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.tools import REPO, helm_bin, serve_envvars

CHART = REPO / "deploy" / "helm" / "tensorgate"
KUBE_VERSION = "1.33.0"

#: Value sets that between them render every template and branch.
VALUE_SETS: dict[str, list[str]] = {
    "defaults with a token": ["--set", "auth.token=s3cret"],
    "existing secret, s3 repository, queue-time autoscaling, service monitor": [
        "--set", "auth.existingSecret=tensorgate-token",
        "--set", "repository.source=s3",
        "--set", "repository.s3.uri=s3://models/repository",
        "--set", "repository.s3.endpoint=http://minio.storage:9000",
        "--set", "repository.s3.credentialsSecret=s3-credentials",
        "--set", "autoscaling.queueTime.enabled=true",
        "--set", "serviceMonitor.enabled=true",
        "--set", "server.models={efficientnet-lite0,resnet50}",
        "--set", "server.memoryBudget=6GiB",
    ],
    "gpu on a volume, fixed replicas, no mesh token": [
        "--set", "auth.allowUnauthenticated=true",
        "--set", "gpu.enabled=true",
        "--set", "gpu.runtimeClassName=nvidia",
        "--set", "repository.source=volume",
        "--set", "repository.volume.persistentVolumeClaim.claimName=models",
        "--set", "repository.volume.persistentVolumeClaim.readOnly=true",
        "--set", "autoscaling.enabled=false",
        "--set", "podDisruptionBudget.enabled=false",
        "--set", "serviceAccount.create=false",
        "--set", "server.instances=2",
    ],
}  # fmt: skip


@pytest.fixture(scope="module")
def helm() -> Path:
    return helm_bin()


def render(helm: Path, *args: str) -> list[dict[str, Any]]:
    out = subprocess.run(
        [str(helm), "template", "demo", str(CHART), "--kube-version", KUBE_VERSION, *args],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return [doc for doc in yaml.safe_load_all(out.stdout) if doc]


def render_error(helm: Path, *args: str) -> str:
    out = subprocess.run(
        [str(helm), "template", "demo", str(CHART), "--kube-version", KUBE_VERSION, *args],
        capture_output=True, text=True,
    )  # fmt: skip
    assert out.returncode != 0, out.stdout
    return out.stderr


def by_kind(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {doc["kind"]: doc for doc in docs}


def pod_spec(docs: list[dict[str, Any]]) -> dict[str, Any]:
    spec: dict[str, Any] = by_kind(docs)["Deployment"]["spec"]["template"]["spec"]
    return spec


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def test_helm_lint_passes_strict(helm: Path) -> None:
    for name, args in VALUE_SETS.items():
        out = subprocess.run(
            [str(helm), "lint", "--strict", str(CHART), *args], capture_output=True, text=True
        )
        assert out.returncode == 0, f"{name}: {out.stdout}{out.stderr}"


@pytest.mark.parametrize("name", list(VALUE_SETS))
def test_every_rendered_object_passes_strict_kubernetes_schemas(helm: Path, name: str) -> None:
    import kubernetes_validate

    docs = render(helm, *VALUE_SETS[name])
    checked = []
    for doc in docs:
        if doc["apiVersion"].startswith("monitoring.coreos.com/"):
            continue  # a CRD of the Prometheus operator: checked field by field below
        kubernetes_validate.validate(doc, KUBE_VERSION, strict=True)
        checked.append(doc["kind"])
    assert "Deployment" in checked
    assert "Service" in checked


def test_defaults_render_a_hardened_deployment_with_probes_drain_and_token(helm: Path) -> None:
    docs = render(helm, *VALUE_SETS["defaults with a token"])
    kinds = by_kind(docs)
    assert set(kinds) == {
        "Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget", "Secret",
        "ServiceAccount",
    }  # fmt: skip
    pod = pod_spec(docs)
    (container,) = pod["containers"]
    env = env_of(container)
    # The token comes from the chart's Secret, never as a literal in the pod.
    assert env["TENSORGATE_AUTH_TOKEN"] == {
        "secretKeyRef": {"name": "demo-tensorgate-auth", "key": "token"}
    }
    assert "s3cret" not in yaml.safe_dump(kinds["Deployment"])
    # Probes on the V2 health routes; startup covers model loading.
    assert container["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/v2/health/live"
    assert container["startupProbe"]["httpGet"]["path"] == "/v2/health/ready"
    # The drain fits in the grace period: preStop + shutdown delay + drain + margin.
    pre_stop = int(container["lifecycle"]["preStop"]["exec"]["command"][1])
    delay = float(env["TENSORGATE_SHUTDOWN_DELAY"])
    drain = float(env["TENSORGATE_DRAIN_TIMEOUT"])
    assert pod["terminationGracePeriodSeconds"] >= pre_stop + delay + drain + 5
    # Non-root, read-only root filesystem, no escalation, no capabilities.
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert {m["mountPath"] for m in container["volumeMounts"]} == {"/tmp"}
    # Rolling updates never take a ready pod away before its successor is ready.
    strategy = kinds["Deployment"]["spec"]["strategy"]["rollingUpdate"]
    assert strategy["maxUnavailable"] == 0
    # HTTP and gRPC on the Service; CPU autoscaling; a PDB.
    ports = {p["name"]: p["port"] for p in kinds["Service"]["spec"]["ports"]}
    assert ports == {"http": 8000, "grpc": 8001}
    metrics = kinds["HorizontalPodAutoscaler"]["spec"]["metrics"]
    assert [m["resource"]["name"] for m in metrics] == ["cpu"]
    assert kinds["PodDisruptionBudget"]["spec"]["maxUnavailable"] == 1


def test_s3_repository_is_synced_by_an_init_container_and_queue_time_scales(helm: Path) -> None:
    docs = render(helm, *VALUE_SETS[
        "existing secret, s3 repository, queue-time autoscaling, service monitor"
    ])  # fmt: skip
    kinds = by_kind(docs)
    assert "Secret" not in kinds  # the existing one is used
    pod = pod_spec(docs)
    (sync,) = pod["initContainers"]
    assert sync["command"][:3] == ["aws", "s3", "sync"]
    assert sync["args"][:2] == ["s3://models/repository", "/models"]
    assert "--endpoint-url" in sync["args"]
    assert sync["envFrom"] == [{"secretRef": {"name": "s3-credentials"}}]
    (container,) = pod["containers"]
    env = env_of(container)
    assert env["TENSORGATE_MODELS"] == "efficientnet-lite0 resnet50"
    assert env["TENSORGATE_MEMORY_BUDGET"] == "6GiB"
    assert env["TENSORGATE_AUTH_TOKEN"]["secretKeyRef"]["name"] == "tensorgate-token"
    mount = next(m for m in container["volumeMounts"] if m["name"] == "repository")
    assert mount == {"name": "repository", "mountPath": "/models", "readOnly": True}
    metrics = kinds["HorizontalPodAutoscaler"]["spec"]["metrics"]
    assert metrics[1]["pods"]["metric"]["name"] == "tensorgate_queue_seconds"
    monitor = kinds["ServiceMonitor"]["spec"]
    (endpoint,) = monitor["endpoints"]
    assert (endpoint["port"], endpoint["path"]) == ("http", "/metrics")
    assert endpoint["authorization"]["credentials"]["name"] == "tensorgate-token"
    assert (
        monitor["selector"]["matchLabels"]
        == (kinds["Deployment"]["spec"]["selector"]["matchLabels"])
    )


def test_gpu_values_schedule_a_gpu_and_run_on_cuda(helm: Path) -> None:
    docs = render(helm, *VALUE_SETS["gpu on a volume, fixed replicas, no mesh token"])
    kinds = by_kind(docs)
    assert set(kinds) == {"Deployment", "Service"}
    pod = pod_spec(docs)
    (container,) = pod["containers"]
    env = env_of(container)
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert container["image"].startswith("tensorgate-gpu:")
    assert env["TENSORGATE_DEVICE"] == "cuda:0"
    assert env["TENSORGATE_ALLOW_UNAUTHENTICATED"] == "true"
    assert pod["runtimeClassName"] == "nvidia"
    assert pod["tolerations"][0]["key"] == "nvidia.com/gpu"
    assert kinds["Deployment"]["spec"]["replicas"] == 2
    volume = next(v for v in pod["volumes"] if v["name"] == "repository")
    assert volume["persistentVolumeClaim"]["claimName"] == "models"


def test_every_environment_variable_the_chart_sets_is_one_serve_reads(helm: Path) -> None:
    known = serve_envvars()
    for args in VALUE_SETS.values():
        (container,) = pod_spec(render(helm, *args))["containers"]
        names = {e["name"] for e in container["env"] if e["name"].startswith("TENSORGATE_")}
        assert names <= known, names - known


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "auth: set auth.existingSecret"),
        (["--set", "auth.token=t", "--set", "repository.source=s3"],
         'repository.s3.uri is ""; with repository.source=s3 it must be s3://bucket/prefix'),
        (["--set", "auth.token=t", "--set", "repository.source=volume"],
         "repository.volume is empty"),
        (["--set", "auth.token=t", "--set", "autoscaling.minReplicas=8"],
         "autoscaling.minReplicas 8 is above autoscaling.maxReplicas 6"),
        (["--set", "auth.token=t", "--set", "server.replicas=3"],
         "additional properties 'replicas' not allowed"),
        (["--set", "auth.token=t", "--set", "repository.source=nfs"],
         "at '/repository/source': value must be one of 'image', 'volume', 's3'"),
    ],
)  # fmt: skip
def test_bad_values_fail_the_render_and_say_what_to_change(
    helm: Path, args: list[str], message: str
) -> None:
    assert message in render_error(helm, *args)


def test_chart_renders_without_a_cluster(helm: Path, tmp_path: Path) -> None:
    """`helm package` makes the artifact a registry takes; it needs no API server."""
    out = subprocess.run(
        [str(helm), "package", str(CHART), "-d", str(tmp_path)], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["tensorgate-0.1.0.tgz"]


@pytest.fixture(autouse=True)
def _no_kube_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """helm reads no kubeconfig of this machine's user."""
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "absent"))
    monkeypatch.setenv("HELM_CACHE_HOME", str(tmp_path / "helm-cache"))
    monkeypatch.setenv("HELM_CONFIG_HOME", str(tmp_path / "helm-config"))
    monkeypatch.setenv("HELM_DATA_HOME", str(tmp_path / "helm-data"))
    yield
    shutil.rmtree(tmp_path / "helm-cache", ignore_errors=True)
