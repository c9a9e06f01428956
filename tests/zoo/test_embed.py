"""efficientnet-lite0-embed: the default classifier's pooled features, served as
L2-normalised embeddings equal to the torch model's, that tell photos apart."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tensorgate.config import EngineSettings, default_repository
from tensorgate.engine import Engine
from tensorgate.imaging.preprocess import ImagePreprocessor
from tensorgate.imaging.spec import ImageLimits
from tensorgate.repository.manifest import load_config
from tensorgate.tasks.results import Embedding
from tensorgate.zoo import CATALOG, pull

NAME = "efficientnet-lite0-embed"


@pytest.fixture(scope="module")
def embed_repository() -> Path:
    repository = default_repository()
    pull(NAME, repository)
    return repository


def jpeg(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=92)
    return buffer.getvalue()


async def embeddings(repository: Path, images: list[bytes]) -> list[np.ndarray]:
    settings = EngineSettings(repository=repository, models=(NAME,), instances=1)
    async with Engine(settings) as engine:
        result = await engine.run_images(NAME, images, task="embed")
    assert result.task == "embed"
    vectors = []
    for answer in result.answers:
        assert isinstance(answer, Embedding)
        vectors.append(answer.vector)
    return vectors


async def test_served_embeddings_equal_the_torch_models(
    embed_repository: Path, chelsea: np.ndarray
) -> None:
    torch = pytest.importorskip("torch")
    from tensorgate.zoo.export import build_torch_model

    data = jpeg(chelsea)
    (served,) = await embeddings(embed_repository, [data])
    assert served.shape == (1280,)
    assert abs(float(np.linalg.norm(served)) - 1.0) < 1e-5
    config = load_config(embed_repository / NAME)
    assert config.preprocess is not None
    tensor = ImagePreprocessor(config.preprocess, ImageLimits()).prepare(data).tensor
    with torch.inference_mode():
        features = build_torch_model(CATALOG[NAME])(torch.from_numpy(tensor[np.newaxis]))
    reference = features.numpy()[0]
    reference /= np.linalg.norm(reference)
    assert float(np.abs(served - reference).max()) < 1e-4


async def test_a_mirrored_photo_is_closer_than_another_photo(
    embed_repository: Path, chelsea: np.ndarray, coffee: np.ndarray
) -> None:
    from skimage import data as photos

    cat, mirror, espresso, astronaut = await embeddings(
        embed_repository,
        [jpeg(chelsea), jpeg(chelsea[:, ::-1].copy()), jpeg(coffee), jpeg(photos.astronaut())],
    )
    same = float(cat @ mirror)
    others = [float(cat @ espresso), float(cat @ astronaut), float(espresso @ astronaut)]
    assert same > 0.9
    print(f"cosine: mirror {same:.3f}, other photos {', '.join(f'{o:.3f}' for o in others)}")
    assert max(others) < same - 0.3, (same, others)
