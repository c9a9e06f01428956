"""Pretrained models that ship in PyPI packages, exported for serving."""

from tensorgate.zoo.catalog import CATALOG, FORMATS, ZooModel, directory_name, pull, resolve
from tensorgate.zoo.pipelines import ZOO_PIPELINES, ZooPipeline
from tensorgate.zoo.wheels import WHEEL_MODELS, WheelModel

__all__ = [
    "CATALOG",
    "FORMATS",
    "WHEEL_MODELS",
    "ZOO_PIPELINES",
    "WheelModel",
    "ZooModel",
    "ZooPipeline",
    "directory_name",
    "pull",
    "resolve",
]
