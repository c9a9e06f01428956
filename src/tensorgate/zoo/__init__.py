"""Pretrained models that ship in PyPI packages, exported for serving."""

from tensorgate.zoo.catalog import CATALOG, FORMATS, ZooModel, directory_name, pull, resolve

__all__ = ["CATALOG", "FORMATS", "ZooModel", "directory_name", "pull", "resolve"]
