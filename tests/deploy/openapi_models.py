"""Strict validation of a manifest against OpenAPI-generated model classes.

KServe's Python SDK ships its resources (ClusterServingRuntime, InferenceService) as
classes generated from its API definitions, and the official ``kubernetes`` client ships
the core ones they embed (V1Container, V1Volume, ...). Each class declares its fields
(``attribute_map``: Python name -> JSON key) and their types (``openapi_types``:
``str``, ``list[V1Container]``, ``dict(str, str)``, a class name). This walks a manifest
through them: an unknown key, a wrong type or a missing required field is an error with
its path; then the objects are built, which runs the SDK's own setter checks.

The SDK packages are imported module by module (the ``fixture.sh kserve`` folder on
``sys.path``, package ``__init__`` files skipped): ``import kserve`` would start the
SDK's model server stack (FastAPI, grpc tools, pandas), none of which validation needs.
"""

from __future__ import annotations

import datetime
import importlib
import re
import sys
import types
from pathlib import Path
from typing import Any

__all__ = ["ModelIndex", "ValidationFailure", "validate"]

_LIST = re.compile(r"^list\[(.+)\]$")
_DICT = re.compile(r"^dict\((\w+), (.+)\)$")
_IMPORT = re.compile(r"^\s*from ([\w.]+) import (\w+)$", re.MULTILINE)
_SCALARS: dict[str, tuple[type, ...]] = {
    "str": (str,),
    "int": (int,),
    "float": (int, float),
    "bool": (bool,),
    "object": (object,),
    "datetime": (str, datetime.datetime),
    "date": (str, datetime.date),
}


class ValidationFailure(AssertionError):
    """The manifest does not fit the SDK's models; the message names every problem."""


def _namespace(name: str, root: Path) -> None:
    """Register ``name`` as a package whose ``__init__`` is not run."""
    if name in sys.modules:
        return
    module = types.ModuleType(name)
    module.__path__ = [str(root / name.replace(".", "/"))]
    sys.modules[name] = module


class ModelIndex:
    """Class name -> class, for the kserve and kubernetes model packages under ``root``."""

    def __init__(self, root: Path) -> None:
        self._root = root
        self._where: dict[str, str] = {}
        for package in ("kserve", "kubernetes", "kubernetes.client"):
            _namespace(package, root)
        for package in ("kserve.models", "kubernetes.client.models"):
            _namespace(package, root)
            init = root / package.replace(".", "/") / "__init__.py"
            for module, cls in _IMPORT.findall(init.read_text()):
                self._where[cls] = module

    def __contains__(self, name: str) -> bool:
        return name in self._where

    def get(self, name: str) -> Any:
        if name not in self._where:
            raise KeyError(f"no model class {name} in kserve or kubernetes")
        return getattr(importlib.import_module(self._where[name]), name)


def validate(manifest: dict[str, Any], class_name: str, index: ModelIndex) -> Any:
    """Check ``manifest`` strictly against ``class_name``; return the built object."""
    problems: list[str] = []
    _check(manifest, class_name, index, "$", problems)
    if problems:
        raise ValidationFailure(f"{class_name}: " + "; ".join(problems))
    try:
        return _build(manifest, class_name, index)
    except (ValueError, TypeError) as error:  # the SDK's own required / enum checks
        raise ValidationFailure(f"{class_name}: {error}") from error


def _check(value: Any, kind: str, index: ModelIndex, path: str, problems: list[str]) -> None:
    if (match := _LIST.match(kind)) is not None:
        if not isinstance(value, list):
            problems.append(f"{path}: expected a list, got {type(value).__name__}")
            return
        for i, item in enumerate(value):
            _check(item, match.group(1), index, f"{path}[{i}]", problems)
        return
    if (match := _DICT.match(kind)) is not None:
        if not isinstance(value, dict):
            problems.append(f"{path}: expected a mapping, got {type(value).__name__}")
            return
        for key, item in value.items():
            _check(key, match.group(1), index, f"{path}<key>", problems)
            _check(item, match.group(2), index, f"{path}.{key}", problems)
        return
    if kind in _SCALARS:
        allowed = _SCALARS[kind]
        if kind in ("int", "float") and isinstance(value, bool):
            allowed = ()
        if not isinstance(value, allowed):
            problems.append(f"{path}: expected {kind}, got {type(value).__name__} {value!r}")
        return
    if kind == "IntOrString":  # e.g. a probe's port
        if not isinstance(value, (int, str)):
            problems.append(f"{path}: expected an int or a string, got {value!r}")
        return
    if kind not in index:
        problems.append(f"{path}: the SDK has no type {kind!r} to check it against")
        return
    cls = index.get(kind)
    if not isinstance(value, dict):
        problems.append(f"{path}: expected a {kind} mapping, got {type(value).__name__}")
        return
    json_to_attr = {json_key: attr for attr, json_key in cls.attribute_map.items()}
    for key, item in value.items():
        if key not in json_to_attr:
            known = ", ".join(sorted(json_to_attr))
            problems.append(f"{path}.{key}: not a field of {kind} (fields: {known})")
            continue
        _check(item, cls.openapi_types[json_to_attr[key]], index, f"{path}.{key}", problems)


def _build(value: Any, kind: str, index: ModelIndex) -> Any:
    if (match := _LIST.match(kind)) is not None:
        return [_build(item, match.group(1), index) for item in value]
    if (match := _DICT.match(kind)) is not None:
        return {key: _build(item, match.group(2), index) for key, item in value.items()}
    if kind in _SCALARS or kind == "IntOrString":
        return value
    cls = index.get(kind)
    json_to_attr = {json_key: attr for attr, json_key in cls.attribute_map.items()}
    arguments = {
        json_to_attr[key]: _build(item, cls.openapi_types[json_to_attr[key]], index)
        for key, item in value.items()
    }
    return cls(**arguments)
