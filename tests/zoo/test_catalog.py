"""The zoo exports real pretrained weights to an ONNX model directory that loads."""

from __future__ import annotations

from pathlib import Path

import pytest

from tensorgate.errors import ModelNotFoundError
from tensorgate.repository.manifest import load_config
from tensorgate.zoo import CATALOG, pull


def test_pull_exports_once_and_the_result_matches_torch(tmp_path: Path) -> None:
    first = pull("efficientnet-lite0", tmp_path)
    assert first.exported
    assert first.max_abs_error is not None
    assert first.max_abs_error < 1e-4
    config = load_config(first.directory)
    assert config.preprocess is not None
    assert config.preprocess.mean == (127.0, 127.0, 127.0)
    assert config.postprocess is not None
    assert len(config.postprocess.labels) == 1000
    assert config.postprocess.labels[967] == "espresso"
    again = pull("efficientnet-lite0", tmp_path)
    assert not again.exported
    assert not list(tmp_path.glob(".efficientnet-lite0-*")), "staging directory left behind"


def test_unknown_zoo_model(tmp_path: Path) -> None:
    with pytest.raises(
        ModelNotFoundError, match="the zoo has no model 'x'; it has efficientnet-lite0"
    ):
        pull("x", tmp_path)
    assert set(CATALOG) == {"efficientnet-lite0"}
