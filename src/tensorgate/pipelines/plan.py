"""Whether a pipeline's steps fit the models they name (pure: it reads model configs).

The shapes served: a detecting model reads the image, one ``crop`` step cuts its
detections or text regions out, and one or more image models read each crop; their
answers merge under each detection. A step whose input does not give what it needs is
refused when the pipeline loads, with the file, the step and the reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from tensorgate.errors import ConfigError
from tensorgate.repository.manifest import ModelConfig
from tensorgate.repository.pipelines import IMAGE, CropStep, ModelStep, PipelineConfig, Step

__all__ = ["CROPPABLE", "PipelinePlan", "plan_pipeline"]

#: Tasks whose answers a crop step can cut out (boxes, or quadrilaterals).
CROPPABLE = ("detect", "text-detect")


@dataclass(frozen=True, slots=True)
class PipelinePlan:
    """A pipeline whose steps were found to fit.

    Attributes:
        config: what its config.yaml declares.
        root: the model step that reads the image.
        crop: the crop step that reads the root.
        branches: the model steps that read each crop, in file order.
        task: the root model's task (the pipeline answers on its route).
    """

    config: PipelineConfig
    root: ModelStep
    crop: CropStep
    branches: tuple[ModelStep, ...]
    task: str

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def steps(self) -> tuple[ModelStep, ...]:
        """Its model steps, the root first."""
        return (self.root, *self.branches)


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
        raise _fail(config, root, "reads the image but is a crop step; a model reads it first")
    root_task = _model(config, root, models, others).task
    readers = config.readers(root.name)
    crops = [s for s in readers if isinstance(s, CropStep)]
    for step in readers:
        if isinstance(step, ModelStep):
            raise _fail(
                config,
                step,
                f"reads step {root.name!r}, a {root_task} model's answer; a model step reads "
                f"the image or a crop step",
            )
    if root_task not in CROPPABLE or len(crops) != 1:
        problem = (
            f"is a {root_task} model; a crop step reads a {' or '.join(CROPPABLE)} model"
            if root_task not in CROPPABLE
            else f"is read by {len(crops)} crop steps; a pipeline has exactly one"
        )
        raise _fail(config, crops[0] if crops else root, problem)
    (crop,) = crops
    branches: list[ModelStep] = []
    for step in config.readers(crop.name):
        if not isinstance(step, ModelStep):
            raise _fail(config, step, f"reads crop step {crop.name!r}; only models read crops")
        _model(config, step, models, others)
        branches.append(step)
    if not branches:
        raise _fail(config, crop, "is read by no step; add a model step that reads its crops")
    placed = {root.name, crop.name, *(b.name for b in branches)}
    for step in config.steps:
        if step.name not in placed:
            source = config.step(step.input) if step.input != IMAGE else None
            kind = "a crop" if isinstance(source, CropStep) else "a model's answer"
            raise _fail(
                config,
                step,
                f"reads step {step.input!r} ({kind}); only the root's crop step is read "
                "here: a model step reads the image or the crop step",
            )
    return PipelinePlan(config, root, crop, tuple(branches), root_task)
