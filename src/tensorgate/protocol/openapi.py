"""The OpenAPI 3.1 document of every REST route (KServe V2 and ours), built from the
same tables the routes are (pure). The server serves it at ``/openapi.json``; it is
checked in as docs/openapi.yaml, and a test keeps both equal to the app's routes::

    python -m tensorgate.protocol.openapi > docs/openapi.yaml
"""

from __future__ import annotations

import sys
from typing import Any

import yaml

from tensorgate._version import __version__
from tensorgate.protocol.datatypes import DATATYPES
from tensorgate.repository.manifest import NAME_PATTERN
from tensorgate.tasks import TASKS

__all__ = ["openapi_document", "rest_operations"]

_JSON = "application/json"
Schema = dict[str, Any]


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: Schema, description: str) -> Schema:
    return {"description": description, "content": {_JSON: {"schema": schema}}}


_ERROR = _json(_ref("Error"), "the request failed; the message says what was wrong")

_SCHEMAS: dict[str, Schema] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {"error": {"type": "string", "description": "what was wrong and the fix"}},
    },
    "Datatype": {"type": "string", "enum": sorted(DATATYPES)},
    "Parameters": {"type": "object", "description": "V2 parameters: names to values"},
    "RequestTensor": {
        "type": "object",
        "required": ["name", "shape", "datatype"],
        "properties": {
            "name": {"type": "string"},
            "shape": {"type": "array", "items": {"type": "integer", "minimum": 0}},
            "datatype": _ref("Datatype"),
            "parameters": _ref("Parameters"),
            "data": {
                "type": "array",
                "description": "row-major values (absent with binary_data_size)",
            },
        },
    },
    "RequestedOutput": {
        "type": "object",
        "required": ["name"],
        "properties": {"name": {"type": "string"}, "parameters": _ref("Parameters")},
    },
    "InferRequest": {
        "type": "object",
        "required": ["inputs"],
        "properties": {
            "id": {"type": "string"},
            "parameters": _ref("Parameters"),
            "inputs": {"type": "array", "minItems": 1, "items": _ref("RequestTensor")},
            "outputs": {"type": "array", "items": _ref("RequestedOutput")},
        },
    },
    "ResponseTensor": {
        "type": "object",
        "required": ["name", "shape", "datatype"],
        "properties": {
            "name": {"type": "string"},
            "shape": {"type": "array", "items": {"type": "integer"}},
            "datatype": _ref("Datatype"),
            "parameters": _ref("Parameters"),
            "data": {"type": "array"},
        },
    },
    "InferResponse": {
        "type": "object",
        "required": ["model_name", "outputs"],
        "properties": {
            "model_name": {"type": "string"},
            "model_version": {"type": "string"},
            "id": {"type": "string"},
            "parameters": _ref("Parameters"),
            "outputs": {"type": "array", "items": _ref("ResponseTensor")},
        },
    },
    "ServerMetadata": {
        "type": "object",
        "required": ["name", "version", "extensions"],
        "properties": {
            "name": {"type": "string"},
            "version": {"type": "string"},
            "extensions": {"type": "array", "items": {"type": "string"}},
        },
    },
    "TensorMetadata": {
        "type": "object",
        "required": ["name", "datatype", "shape"],
        "properties": {
            "name": {"type": "string"},
            "datatype": _ref("Datatype"),
            "shape": {"type": "array", "items": {"type": "integer"}},
        },
    },
    "ModelMetadata": {
        "type": "object",
        "required": ["name", "versions", "platform", "inputs", "outputs"],
        "properties": {
            "name": {"type": "string"},
            "versions": {"type": "array", "items": {"type": "string"}},
            "platform": {"type": "string", "description": "a runtime's, or `pipeline`"},
            "inputs": {"type": "array", "items": _ref("TensorMetadata")},
            "outputs": {"type": "array", "items": _ref("TensorMetadata")},
        },
    },
    "ModelConfig": {"type": "object", "description": "Triton's model configuration as JSON"},
    "Statistics": {
        "type": "object",
        "required": ["model_stats"],
        "properties": {"model_stats": {"type": "array", "items": {"type": "object"}}},
    },
    "IndexRequest": {"type": "object", "properties": {"ready": {"type": "boolean"}}},
    "IndexEntry": {
        "type": "object",
        "required": ["name", "version", "state", "reason"],
        "properties": {
            "name": {"type": "string"},
            "version": {"type": "string"},
            "state": {"type": "string", "enum": ["LOADING", "READY", "UNLOADING", "UNAVAILABLE"]},
            "reason": {"type": "string"},
            "steps": {"type": "array", "items": {"type": "object"}},
        },
    },
    "ControlRequest": {"type": "object", "properties": {"parameters": _ref("Parameters")}},
    "TaskResults": {
        "type": "object",
        "required": ["model_name", "model_version", "results"],
        "properties": {
            "model_name": {"type": "string"},
            "model_version": {"type": "string"},
            "task": {"type": "string", "enum": sorted(TASKS)},
            "results": {
                "type": "array",
                "items": {"type": "object"},
                "description": "one answer per image, in order (docs/tasks.md)",
            },
        },
    },
    "SourcesRequest": {
        "type": "object",
        "required": ["sources"],
        "properties": {
            "sources": {"type": "array", "minItems": 1, "items": {"type": "string"}},
            "top_k": {"type": ["integer", "null"], "minimum": 1},
        },
    },
}

_NAME = {
    "name": "name",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": NAME_PATTERN.pattern},
    "description": "a model or pipeline of the repository",
    "examples": {"default model": {"value": "efficientnet-lite0"}},
}
_VERSION = {
    "name": "version",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": "^[1-9][0-9]{0,17}$"},
    "description": "a version number",
    "examples": {"first": {"value": "1"}},
}
_IMAGES = {
    "required": True,
    "content": {
        "application/octet-stream": {
            "schema": {"type": "string", "contentMediaType": "application/octet-stream"},
            "description": "one JPEG, PNG or WebP file as the body",
        },
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "properties": {
                    "image": {
                        "type": "array",
                        "items": {"type": "string", "contentMediaType": "application/octet-stream"},
                    }
                },
            },
            "description": "one or more files, each a part",
        },
    },
}
_EMPTY = {"description": "no body"}


def _operation(summary: str, responses: dict[str, Any], **extra: Any) -> Schema:
    return {"summary": summary, **extra, "responses": {**responses, "default": _ERROR}}


def _model_operations(base: str, versioned: bool) -> dict[str, dict[str, Schema]]:
    params = [_NAME, _VERSION] if versioned else [_NAME]
    paths: dict[str, dict[str, Schema]] = {
        base: {
            "get": _operation(
                "model (or pipeline) metadata",
                {"200": _json(_ref("ModelMetadata"), "its metadata")},
                parameters=params,
            )
        },
        f"{base}/ready": {
            "get": {
                "summary": "model readiness (a pipeline: every step's model READY)",
                "parameters": params,
                "responses": {"200": _EMPTY, "503": _EMPTY, "default": _ERROR},
            }
        },
        f"{base}/config": {
            "get": _operation(
                "Triton model configuration",
                {"200": _json(_ref("ModelConfig"), "its configuration")},
                parameters=params,
            )
        },
        f"{base}/stats": {
            "get": _operation(
                "V2 statistics (a pipeline: one entry per model its steps run)",
                {"200": _json(_ref("Statistics"), "statistics")},
                parameters=params,
            )
        },
        f"{base}/infer": {
            "post": _operation(
                "V2 inference: JSON, or Triton's binary tensor extension; a BYTES tensor of "
                "encoded images to an image model",
                {"200": _json(_ref("InferResponse"), "the outputs")},
                parameters=params,
                requestBody={
                    "required": True,
                    "content": {
                        _JSON: {"schema": _ref("InferRequest")},
                        "application/octet-stream": {
                            "schema": {"type": "string"},
                            "description": "binary extension: a JSON header of "
                            "Inference-Header-Content-Length bytes, then the tensors",
                        },
                    },
                },
            )
        },
    }
    for task in TASKS.values():
        query = (
            [{"name": "top_k", "in": "query", "schema": {"type": "integer", "minimum": 1}}]
            if task.name == "classify"
            else []
        )
        paths[f"{base}/{task.route}"] = {
            "post": _operation(
                f"{task.name}: encoded images in, {task.name} answers out (docs/tasks.md)",
                {"200": _json(_ref("TaskResults"), "one answer per image")},
                parameters=[*params, *query],
                requestBody=_IMAGES,
            )
        }
    paths[f"{base}/classify/sources"] = {
        "post": _operation(
            "classify s3:// and https:// sources, each answered on its own",
            {"200": _json(_ref("TaskResults"), "one answer or error per source")},
            parameters=params,
            requestBody={"required": True, "content": {_JSON: {"schema": _ref("SourcesRequest")}}},
        )
    }
    return paths


def openapi_document() -> Schema:
    """The OpenAPI 3.1 document of the server's REST routes."""
    paths: dict[str, dict[str, Schema]] = {
        "/v2/health/live": {"get": {"summary": "liveness", "responses": {"200": _EMPTY}}},
        "/v2/health/ready": {
            "get": {
                "summary": "readiness: every model serves, and not draining",
                "responses": {"200": _EMPTY, "503": _EMPTY},
            }
        },
        "/v2": {
            "get": _operation(
                "server metadata", {"200": _json(_ref("ServerMetadata"), "name, extensions")}
            )
        },
        "/v2/models/stats": {
            "get": _operation(
                "statistics of every model", {"200": _json(_ref("Statistics"), "statistics")}
            )
        },
        "/v2/repository/index": {
            "post": _operation(
                "every model version and pipeline with its state",
                {
                    "200": _json(
                        {"type": "array", "items": _ref("IndexEntry")}, "the repository index"
                    )
                },
                requestBody={"content": {_JSON: {"schema": _ref("IndexRequest")}}},
            )
        },
        "/metrics": {
            "get": {
                "summary": "Prometheus metrics",
                "responses": {
                    "200": {
                        "description": "the text exposition",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    },
                    "default": _ERROR,
                },
            }
        },
        "/openapi.json": {
            "get": _operation("this document", {"200": _json({"type": "object"}, "OpenAPI 3.1")})
        },
        "/console": {
            "get": {
                "summary": "the web console's page (public; its data comes from /console/api)",
                "responses": {
                    "200": {
                        "description": "HTML",
                        "content": {"text/html": {"schema": {"type": "string"}}},
                    },
                    "default": _ERROR,
                },
            }
        },
        "/console/static/{file}": {
            "get": {
                "summary": "one of the console's files (public)",
                "parameters": [
                    {
                        "name": "file",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string", "enum": ["console.css", "console.js"]},
                    }
                ],
                "responses": {
                    "200": {
                        "description": "CSS or JavaScript",
                        "content": {
                            "text/css": {"schema": {"type": "string"}},
                            "text/javascript": {"schema": {"type": "string"}},
                        },
                    },
                    "default": _ERROR,
                },
            }
        },
        "/console/access": {
            "get": {
                "summary": "whether the API needs a token and model control is on (public)",
                "responses": {
                    "200": _json({"type": "object"}, "auth and model_control"),
                    "default": _ERROR,
                },
            }
        },
        "/console/api/models": {
            "get": _operation(
                "models, versions and pipelines: state, memory, instances, batching",
                {"200": _json({"type": "object"}, "the console's Models view")},
            )
        },
        "/console/api/live": {
            "get": _operation(
                "cumulative counters and histograms per model (the Live view's source)",
                {"200": _json({"type": "object"}, "a snapshot")},
            )
        },
        "/console/api/server": {
            "get": _operation(
                "version, limits, devices and settings",
                {"200": _json({"type": "object"}, "the console's Server view")},
            )
        },
    }
    for action in ("load", "unload"):
        paths[f"/v2/repository/models/{{name}}/{action}"] = {
            "post": _operation(
                f"{action} a model or pipeline (model control: --model-control and its token)",
                {"200": _EMPTY},
                parameters=[_NAME],
                requestBody={"content": {_JSON: {"schema": _ref("ControlRequest")}}},
            )
        }
    paths.update(_model_operations("/v2/models/{name}", False))
    paths.update(_model_operations("/v2/models/{name}/versions/{version}", True))
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "tensorgate",
            "version": __version__,
            "description": "KServe V2 / Open Inference Protocol with Triton's extensions, "
            'and tensorgate\'s image routes. Every error is JSON {"error": message}.',
        },
        "paths": dict(sorted(paths.items())),
        "components": {"schemas": _SCHEMAS},
    }


def rest_operations(document: Schema) -> set[tuple[str, str]]:
    """Every ``(path, METHOD)`` the document describes."""
    return {
        (path, method.upper())
        for path, operations in document["paths"].items()
        for method in operations
    }


if __name__ == "__main__":
    yaml.safe_dump(openapi_document(), sys.stdout, sort_keys=False, allow_unicode=True, width=100)
