"""Whether a pipeline's steps fit the models they name: refused at load with the file,
the step and the reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from tensorgate.errors import ConfigError
from tensorgate.imaging.spec import PostprocessSpec, PreprocessSpec
from tensorgate.pipelines.plan import plan_pipeline
from tensorgate.repository.manifest import ModelConfig
from tensorgate.repository.pipelines import (
    CropStep,
    MatchStep,
    ModelStep,
    PipelineConfig,
    Step,
)
from tensorgate.types import TensorSpec

SOURCE = Path("/repo/ocr/config.yaml")


def image_model(name: str, task: str) -> ModelConfig:
    return ModelConfig(name, preprocess=PreprocessSpec(), postprocess=PostprocessSpec(), task=task)


def embedder(dimension: int) -> ModelConfig:
    output = TensorSpec("embedding", "FP32", (dimension,))
    return ModelConfig(
        "emb",
        outputs=(output,),
        preprocess=PreprocessSpec(),
        postprocess=PostprocessSpec(decoder="pooled"),
        task="embed",
    )


MODELS: dict[str, ModelConfig | str] = {
    "det": image_model("det", "text-detect"),
    "yolo": image_model("yolo", "detect"),
    "rec": image_model("rec", "text-recognize"),
    "cls": image_model("cls", "classify"),
    "emb": image_model("emb", "embed"),
    "tensors": ModelConfig("tensors"),
    "broken": "config.yaml: field 'x' is bad",
}


def config(*steps: Step) -> PipelineConfig:
    return PipelineConfig("ocr", SOURCE, steps)


ROOT = ModelStep("regions", "det", "image")
CROP = CropStep("lines", "regions")


def test_a_detector_its_crops_and_two_readers_fit() -> None:
    plan = plan_pipeline(
        config(
            ModelStep("found", "yolo", "image"),
            CropStep("items", "found", max_crops=8),
            ModelStep("kind", "cls", "items"),
            ModelStep("vector", "emb", "items"),
        ),
        MODELS,
    )
    assert plan.task == "detect"
    assert [s.name for s in plan.branches] == ["kind", "vector"]
    assert [s.model for s in plan.steps] == ["yolo", "cls", "emb"]


def test_match_steps_read_embed_steps_on_crops_or_on_the_image() -> None:
    tagged = plan_pipeline(
        config(
            ModelStep("found", "yolo", "image"),
            CropStep("items", "found"),
            ModelStep("vector", "emb", "items", answer=False),
            MatchStep("products", "vector", "catalogue.index", 3),
        ),
        {**MODELS, "emb": embedder(1280)},
    )
    assert [m.name for m in tagged.matches] == ["products"]
    assert tagged.model_of(tagged.matches[0]).model == "emb"
    assert tagged.dimensions == {"vector": 1280}
    assert tagged.index_folder(tagged.matches[0]) == SOURCE.parent / "catalogue.index"
    whole = plan_pipeline(
        config(ModelStep("vector", "emb", "image"), MatchStep("similar", "vector", "i")), MODELS
    )
    assert (whole.task, whole.crop, whole.branches) == ("embed", None, ())


@pytest.mark.parametrize(
    ("steps", "words"),
    [
        (
            (ROOT, CROP, ModelStep("text", "missing", "lines")),
            "step 'text' names model 'missing', which the repository does not have",
        ),
        ((ROOT, CROP, ModelStep("text", "broken", "lines")), "which cannot load: config.yaml"),
        ((ROOT, CROP, ModelStep("text", "tensors", "lines")), "takes tensors, not images"),
        ((ROOT, CROP, ModelStep("text", "ocr2", "lines")), "a pipeline; pipelines do not nest"),
        (
            (ModelStep("regions", "cls", "image"), CROP, ModelStep("t", "rec", "lines")),
            "step 'regions' is a classify model; the first model of a pipeline detects",
        ),
        (
            (ROOT, ModelStep("text", "rec", "regions")),
            "step 'text' reads step 'regions', a text-detect model's answer",
        ),
        ((ROOT, CROP), "step 'lines' is read by no step"),
        ((ROOT,), "step 'regions' is a text-detect model read by no crop step"),
        (
            (ROOT, CROP, ModelStep("t", "rec", "lines"), MatchStep("m", "t", "i")),
            "step 'm' reads step 't', a text-recognize model; a match step reads an embed",
        ),
        (
            (ModelStep("v", "emb", "image"), ModelStep("w", "cls", "v")),
            "step 'w' reads step 'v', a embed model's answer",
        ),
        ((ModelStep("v", "emb", "image"),), "step 'v' is an embed model read by no match"),
        (
            (ROOT, CROP, CropStep("again", "lines"), ModelStep("t", "rec", "lines")),
            "step 'again' reads crop step 'lines'; only models read crops",
        ),
        (
            (ROOT, CROP, ModelStep("t", "rec", "lines"), ModelStep("u", "cls", "t")),
            "step 'u' reads step 't'",
        ),
        (
            (ROOT, CROP, CropStep("more", "regions"), ModelStep("t", "rec", "lines")),
            "is read by 2 crop steps",
        ),
    ],
)
def test_steps_that_do_not_fit_are_refused(steps: tuple[Step, ...], words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        plan_pipeline(config(*steps), MODELS, {"ocr", "ocr2"})
    assert str(SOURCE) in caught.value.message
    assert words in caught.value.message
