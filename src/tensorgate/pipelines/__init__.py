"""Pipelines: models composed by a config.yaml (detect → crop → classify / embed / read),
served on the same routes as a model."""
