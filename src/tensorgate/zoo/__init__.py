"""Pretrained models shipped in PyPI packages, exported once to ONNX and cached."""

from tensorgate.zoo.catalog import CATALOG, ZooModel, pull

__all__ = ["CATALOG", "ZooModel", "pull"]
