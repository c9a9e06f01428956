"""The KServe manifests, checked strictly against KServe's own SDK models (and the
kubernetes client's, for the containers and volumes they embed)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from tests.deploy.openapi_models import ModelIndex, ValidationFailure, validate
from tests.deploy.tools import REPO, kserve_root, serve_envvars

KSERVE = REPO / "deploy" / "kserve"


@pytest.fixture(scope="module")
def index() -> Iterator[ModelIndex]:
    root = kserve_root()
    sys.path.insert(0, str(root))
    try:
        yield ModelIndex(root)
    finally:
        sys.path.remove(str(root))


def manifest(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((KSERVE / name).read_text())
    return loaded


def test_cluster_serving_runtime_fits_kserve_models(index: ModelIndex) -> None:
    runtime = manifest("clusterservingruntime.yaml")
    assert runtime["apiVersion"] == "serving.kserve.io/v1alpha1"
    built = validate(runtime, "V1alpha1ClusterServingRuntime", index)
    spec = built.spec
    assert sorted(f.name for f in spec.supported_model_formats) == ["onnx", "pytorch"]
    assert spec.protocol_versions == ["v2", "grpc-v2"]
    (container,) = spec.containers
    assert container.name == "kserve-container"
    assert container.args == ["/mnt/models"]  # the storage initializer's path
    env = {e.name: e.value for e in container.env}
    assert env["TENSORGATE_PORT"] == "8080"  # KServe's serving port
    assert container.readiness_probe.http_get.path == "/v2/health/ready"
    assert set(env) <= serve_envvars()


def test_inference_service_fits_kserve_models_and_names_the_runtime(index: ModelIndex) -> None:
    service = manifest("inferenceservice.yaml")
    built = validate(service, "V1beta1InferenceService", index)
    model = built.spec.predictor.model
    assert model.runtime == manifest("clusterservingruntime.yaml")["metadata"]["name"]
    assert model.model_format.name == "onnx"
    assert model.protocol_version == "v2"
    assert model.storage_uri.startswith("s3://")


def test_the_validator_rejects_unknown_fields_and_wrong_types(index: ModelIndex) -> None:
    """The check can fail: a typo, a number where KServe wants a string, no containers."""
    runtime = manifest("clusterservingruntime.yaml")
    runtime["spec"]["protocolVersion"] = "v2"  # the field is protocolVersions
    with pytest.raises(ValidationFailure, match=r"\$\.spec\.protocolVersion: not a field"):
        validate(runtime, "V1alpha1ClusterServingRuntime", index)
    runtime = manifest("clusterservingruntime.yaml")
    runtime["spec"]["supportedModelFormats"][0]["version"] = 1
    with pytest.raises(ValidationFailure, match=r"version: expected str, got int"):
        validate(runtime, "V1alpha1ClusterServingRuntime", index)
    runtime = manifest("clusterservingruntime.yaml")
    del runtime["spec"]["containers"]
    with pytest.raises(ValidationFailure, match="containers"):
        validate(runtime, "V1alpha1ClusterServingRuntime", index)
