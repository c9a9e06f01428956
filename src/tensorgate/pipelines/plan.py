"""Whether a pipeline's steps fit the models they name (pure: it reads model configs).

The shapes served:

- a detecting model reads the image, one ``crop`` step cuts its detections or text
  regions out, one or more image models read each crop (their answers merge under each
  detection), and ``match`` steps may read those of them that embed;
- an embed model reads the image and ``match`` steps read it (whole-image search).

A step whose input does not give what it needs is refused when the pipeline loads, with
the file, the step and the reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from tensorgate.errors import ConfigError
from tensorgate.repository.manifest import ModelConfig
from tensorgate.repository.pipelines import (
    CropStep,
    MatchStep,
    ModelStep,
    PipelineConfig,
    Step,
)

__all__ = ["CROPPABLE", "PipelinePlan", "plan_pipeline"]

#: Tasks whose answers a crop step can cut out (boxes, or quadrilaterals).
CROPPABLE = ("detect", "text-detect")


@dataclass(frozen=True, slots=True)
class PipelinePlan:
    """A pipeline whose steps were found to fit.

    Attributes:
        config: what its config.yaml declares.
        root: the model step that reads the image.
        crop: the crop step that reads the root (None: a whole-image pipeline).
        branches: the model steps that read each crop, in file order.
        matches: the match steps, in file order (reading the root or a branch).
        task: the root model's task (the pipeline answers on its route).
        dimensions: each embed step's vector length where its config declares it.
    """

    config: PipelineConfig
    root: ModelStep
    crop: CropStep | None
    branches: tuple[ModelStep, ...]
    matches: tuple[MatchStep, ...]
    task: str
    dimensions: Mapping[str, int]

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def steps(self) -> tuple[ModelStep, ...]:
        """Its model steps, the root first."""
        return (self.root, *self.branches)

    def index_folder(self, step: MatchStep) -> Path:
        """Where a match step's catalogue index is."""
        return self.config.source.parent / step.index

    def model_of(self, step: MatchStep) -> ModelStep:
        """The embed step a match step reads."""
        return next(s for s in self.steps if s.name == step.input)


def _fail(config: PipelineConfig, step: Step, problem: str) -> ConfigError:
    return ConfigError(f"{config.source}: step {step.name!r} {problem}")


def _model(
    config: PipelineConfig,
    step: ModelStep,
    models: Mapping[str, ModelConfig | str],
    pipelines: set[str],
) -> ModelConfig:
    found = models.get(step.model)
    if step.model in pipelines:
        raise _fail(config, step, f"names {step.model!r}, a pipeline; pipelines do not nest")
    if found is None:
        known = ", ".join(sorted(models)) or "none"
        raise _fail(
            config,
            step,
            f"names model {step.model!r}, which the repository does not have; models: {known}",
        )
    if isinstance(found, str):
        raise _fail(config, step, f"names model {step.model!r}, which cannot load: {found}")
    if found.preprocess is None or found.postprocess is None:
        raise _fail(
            config,
            step,
            f"names model {step.model!r}, which takes tensors, not images: give its "
            "config.yaml a preprocess and a postprocess section",
        )
    return found


def _dimension(model: ModelConfig) -> int | None:
    post = model.postprocess
    name = post.output if post is not None and post.output else None
    for spec in model.outputs:
        if (name is None or spec.name == name) and spec.shape and spec.shape[0] > 0:
            return spec.shape[0]
    return None


def _readers(
    config: PipelineConfig,
    step: ModelStep,
    task: str,
    allowed: type[CropStep] | type[MatchStep] | None,
) -> list[Step]:
    """The steps reading ``step``, each checked to be of the ``allowed`` kind (None:
    no step may read it)."""
    readers = config.readers(step.name)
    for reader in readers:
        if allowed is not None and isinstance(reader, allowed):
            continue
        if isinstance(reader, ModelStep):
            problem = (
                f"reads step {step.name!r}, a {task} model's answer; a model step reads the "
                "image or a crop step"
            )
        elif isinstance(reader, MatchStep):
            problem = f"reads step {step.name!r}, a {task} model; a match step reads an embed step"
        else:
            problem = (
                f"reads step {step.name!r}, a {task} model; a crop step reads the model that "
                "reads the image"
            )
        raise _fail(config, reader, problem)
    return readers


def plan_pipeline(
    config: PipelineConfig,
    models: Mapping[str, ModelConfig | str],
    pipelines: set[str] | None = None,
) -> PipelinePlan:
    """Check ``config``'s steps against the repository's models.

    Args:
        config: the parsed pipeline.
        models: every model of the repository by name: its config, or why it is broken.
        pipelines: the names of the repository's pipelines (steps may not name them).

    Raises:
        ConfigError: naming the file, the step and what does not fit.
    """
    others = pipelines or set()
    root = config.root
    if not isinstance(root, ModelStep):
        raise _fail(config, root, "reads the image but is not a model; a model reads it first")
    root_model = _model(config, root, models, others)
    if not root.answer:
        raise _fail(
            config,
            root,
            "reads the image, so its answer is the pipeline's: 'answer: false' is for the "
            "steps that read crops",
        )
    dimensions: dict[str, int] = {}
    matches: list[MatchStep] = []
    crop: CropStep | None = None
    branches: list[ModelStep] = []
    if root_model.task == "embed":
        matches += [
            m for m in _readers(config, root, "embed", MatchStep) if isinstance(m, MatchStep)
        ]
        if not matches:
            raise _fail(config, root, "is an embed model read by no match step")
        if (found := _dimension(root_model)) is not None:
            dimensions[root.name] = found
    elif root_model.task in CROPPABLE:
        crops = _readers(config, root, root_model.task, CropStep)
        if len(crops) != 1:
            what = f"is read by {len(crops)} crop steps; a pipeline has exactly one"
            raise _fail(
                config,
                crops[-1] if crops else root,
                what if crops else (f"is a {root_model.task} model read by no crop step"),
            )
        (only,) = crops
        assert isinstance(only, CropStep)
        crop = only
        for step in config.readers(crop.name):
            if not isinstance(step, ModelStep):
                raise _fail(config, step, f"reads crop step {crop.name!r}; only models read crops")
            model = _model(config, step, models, others)
            branches.append(step)
            if model.task == "embed":
                searches = _readers(config, step, "embed", MatchStep)
                matches += [m for m in searches if isinstance(m, MatchStep)]
                if (size := _dimension(model)) is not None:
                    dimensions[step.name] = size
            else:
                _readers(config, step, model.task, None)
        if not branches:
            raise _fail(config, crop, "is read by no step; add a model step that reads its crops")
    else:
        raise _fail(
            config,
            root,
            f"is a {root_model.task} model; the first model of a pipeline detects (read by a "
            "crop step) or embeds (read by a match step)",
        )
    placed = {root.name, *(b.name for b in branches), *(m.name for m in matches)}
    placed |= {crop.name} if crop else set()
    for step in config.steps:
        if step.name not in placed:
            raise _fail(
                config,
                step,
                f"reads step {step.input!r}, which nothing here lets it read: a crop step "
                "reads the first model, models read the crop step, match steps read embed "
                "models",
            )
    return PipelinePlan(
        config, root, crop, tuple(branches), tuple(matches), root_model.task, dimensions
    )
