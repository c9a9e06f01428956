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
    with pytest.raises(ModelNotFoundError) as info:
        pull("x", tmp_path)
    assert info.value.message == (
        "the zoo has no model 'x'; it has "
        "efficientnet-lite0, efficientnet-lite0-embed, efficientnet-lite1, efficientnet-lite2, "
        "pp-ocrv6, pp-ocrv6-det, pp-ocrv6-rec"
    )


def test_catalogue_sizes_follow_efficientnet_lite() -> None:
    sizes = {name: (m.image_size, m.resize) for name, m in CATALOG.items()}
    assert sizes == {
        "efficientnet-lite0": (224, 256),
        "efficientnet-lite0-embed": (224, 256),
        "efficientnet-lite1": (240, 272),
        "efficientnet-lite2": (260, 292),
    }


@pytest.mark.slow
@pytest.mark.parametrize("name", ["efficientnet-lite1", "efficientnet-lite2"])
def test_larger_lites_export_and_classify(
    name: str, tmp_path: Path, cat_jpeg: bytes, coffee_png: bytes
) -> None:
    import asyncio

    from tensorgate import Engine, EngineSettings

    result = pull(name, tmp_path)
    assert result.max_abs_error is not None
    assert result.max_abs_error < 1e-4

    async def classify() -> list[int]:
        async with Engine(EngineSettings(repository=tmp_path, instances=1)) as engine:
            answers = await engine.classify(name, [cat_jpeg, coffee_png], top=1)
        return [a[0].index for a in answers]

    cat, coffee = asyncio.run(classify())
    assert cat in range(281, 286)
    assert coffee == 967


def test_a_zoo_pipeline_pulls_its_models_then_its_config(tmp_path: Path) -> None:
    from tensorgate.repository.pipelines import load_pipeline

    first = pull("pp-ocrv6", tmp_path)
    assert first.exported
    assert {p.name for p in tmp_path.iterdir()} == {"pp-ocrv6", "pp-ocrv6-det", "pp-ocrv6-rec"}
    config = load_pipeline(first.directory)
    assert config.models == ("pp-ocrv6-det", "pp-ocrv6-rec")
    assert not pull("pp-ocrv6", tmp_path).exported
