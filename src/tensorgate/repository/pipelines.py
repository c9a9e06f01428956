"""A pipeline's ``config.yaml``: steps that name served models, parsed and checked for
shape (pure; whether the named models fit each other is ``tensorgate.pipelines.plan``'s
business, since it needs the repository). Example::

    name: ocr
    pipeline:
      - name: regions
        model: pp-ocrv6-det            # reads the request's image
      - name: lines
        crop: {max_crops: 200}         # one crop per text region (a perspective warp)
      - name: text
        model: pp-ocrv6-rec            # reads each crop: answers merge under its region

A ``match`` step reads an embed step and answers the nearest items of a catalogue index
(``tensorgate index build``)::

      - {name: vector, model: efficientnet-lite0-embed, answer: false}
      - {name: products, match: {index: catalogue.index, top_k: 5}}

Every step reads the step before it unless it names another in ``input`` (the first
reads ``image``, the request's own image). Exactly one step reads ``image``; no step may
read itself, directly or through others.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tensorgate.errors import ConfigError
from tensorgate.repository.manifest import ConfigReader, check_model_name

__all__ = [
    "IMAGE",
    "MAX_CROPS",
    "MAX_MATCHES",
    "CropStep",
    "MatchStep",
    "ModelStep",
    "PipelineConfig",
    "Step",
    "is_pipeline",
    "load_pipeline",
    "parse_pipeline",
]

#: The input name of the request's own image.
IMAGE = "image"
#: No crop step fans out to more crops per image than this.
MAX_CROPS = 1000
#: No match step answers more catalogue items per query than this.
MAX_MATCHES = 100
#: Names a step may not take: they are the fields of the answers steps merge into.
RESERVED = frozenset(
    {IMAGE, "box", "score", "index", "label", "polygon", "width", "height", "filename"}
)


@dataclass(frozen=True, slots=True)
class ModelStep:
    """A step that runs a served model on its input (the image, or each crop).

    Attributes:
        name: the step's name (the key its answers merge under).
        model: the repository model it runs.
        input: the step it reads (``image``: the request's image).
        version: the model version (None: the highest READY one).
        answer: include its answers in the response (false: only the steps that read it
            see them, e.g. the vectors a match step searches with).
    """

    name: str
    model: str
    input: str
    version: int | None = None
    answer: bool = True


@dataclass(frozen=True, slots=True)
class CropStep:
    """A step that cuts one crop per detection or text region of its input.

    Attributes:
        name: the step's name.
        input: the detecting step it reads.
        score_threshold: regions scoring less are not cropped.
        max_crops: at most this many crops per image, best score first.
        padding: widen each box by this fraction of its size on every side (boxes
            only; text regions are already unclipped by their detector).
        min_size: crops with a side shorter than this many pixels are skipped.
    """

    name: str
    input: str
    score_threshold: float = 0.0
    max_crops: int = 100
    padding: float = 0.0
    min_size: int = 4


@dataclass(frozen=True, slots=True)
class MatchStep:
    """A step that searches a catalogue index with its input's embeddings.

    Attributes:
        name: the step's name.
        input: the embed step it reads (on the image, or on each crop).
        index: the index folder, relative to the pipeline's directory (inside the
            repository).
        top_k: catalogue items answered per query, best first.
        nprobe: an approximate index's lists searched per query (None: the index's own;
            more finds more of the true nearest, slower).
    """

    name: str
    input: str
    index: str
    top_k: int = 5
    nprobe: int | None = None


Step = ModelStep | CropStep | MatchStep


@dataclass(frozen=True, slots=True)
class PipelineConfig:
    """A pipeline as its config.yaml declares it: steps in file order."""

    name: str
    source: Path
    steps: tuple[Step, ...]

    def step(self, name: str) -> Step:
        return next(s for s in self.steps if s.name == name)

    def readers(self, name: str) -> list[Step]:
        """The steps that read step ``name``, in file order."""
        return [s for s in self.steps if s.input == name]

    @property
    def root(self) -> Step:
        """The step that reads the request's image."""
        return next(s for s in self.steps if s.input == IMAGE)

    @property
    def models(self) -> tuple[str, ...]:
        """The models its steps run, each once, in step order."""
        return tuple(dict.fromkeys(s.model for s in self.steps if isinstance(s, ModelStep)))


def is_pipeline(directory: Path) -> bool:
    """True when ``directory/config.yaml`` declares a ``pipeline`` (a malformed file is
    left for the model parser to report)."""
    try:
        data = yaml.safe_load((directory / "config.yaml").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return False
    return isinstance(data, dict) and "pipeline" in data


def load_pipeline(directory: Path) -> PipelineConfig:
    """Load and check ``<directory>/config.yaml``.

    Raises:
        ConfigError: naming the file, the step and what is wrong.
    """
    path = directory / "config.yaml"
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot be read as YAML: {exc}") from None
    return parse_pipeline(data, path, directory.name)


def parse_pipeline(data: Any, source: Path, directory_name: str) -> PipelineConfig:
    """Validate a pipeline mapping read from ``source``."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: must hold a mapping of fields, got {type(data).__name__}")
    reader = ConfigReader(data, str(source))
    reader.unknown(("name", "pipeline"))
    name = reader.get_str("name", directory_name)
    check_model_name(name, f"{source}: field 'name'")
    if name != directory_name:
        raise reader.fail("name", f"is {name!r} but the directory is {directory_name!r}")
    raw = data["pipeline"]
    if not isinstance(raw, list) or len(raw) < 2:
        raise reader.fail(
            "pipeline", "must be a list of at least two steps (a model, then what reads it)"
        )
    steps: list[Step] = []
    for position, item in enumerate(raw):
        previous = steps[-1].name if steps else IMAGE
        steps.append(_step(item, source, position, previous))
    names = [s.name for s in steps]
    for step in steps:
        if names.count(step.name) > 1:
            raise _fail(source, step.name, "is declared twice; step names must be unique")
    for step in steps:
        if step.input != IMAGE and step.input not in names:
            raise _fail(
                source,
                step.name,
                f"reads {step.input!r}, which is no step; steps: {', '.join(names)}",
            )
    roots = [s.name for s in steps if s.input == IMAGE]
    if len(roots) != 1:
        raise reader.fail(
            "pipeline",
            f"has {len(roots)} steps reading the image ({', '.join(roots) or 'none'}); "
            "exactly one must, and the others read steps",
        )
    _check_acyclic(source, steps)
    return PipelineConfig(name, source, tuple(steps))


def _fail(source: Path, step: str, problem: str) -> ConfigError:
    return ConfigError(f"{source}: step {step!r} {problem}")


def _step(item: Any, source: Path, position: int, previous: str) -> Step:
    if not isinstance(item, dict):
        raise ConfigError(
            f"{source}: field 'pipeline[{position}]' must be a mapping "
            f"({{name, model}} or {{name, crop}}), got {item!r:.60}"
        )
    reader = ConfigReader(item, str(source), f"pipeline[{position}].")
    name = reader.get_str("name")
    check_model_name(name, f"{source}: field 'pipeline[{position}].name'")
    if name in RESERVED:
        raise reader.fail("name", f"is {name!r}, a reserved name; pick another")
    source_step = reader.get_str("input", previous)
    kinds = [k for k in ("model", "crop", "match") if reader.has(k)]
    if len(kinds) != 1:
        raise _fail(
            source, name, "must have exactly one of 'model' (a served model), 'crop' or 'match'"
        )
    if kinds == ["model"]:
        reader.unknown(("name", "model", "input", "version", "answer"))
        version = reader.get_int("version", minimum=1) if reader.has("version") else None
        model = check_model_name(reader.get_str("model"), f"{source}: step {name!r} model")
        return ModelStep(name, model, source_step, version, reader.get_bool("answer", True))
    if kinds == ["match"]:
        reader.unknown(("name", "match", "input"))
        match = reader.section("match")
        match.unknown(("index", "top_k", "nprobe"))
        top = match.get_int("top_k", 5, minimum=1)
        if top > MAX_MATCHES:
            raise match.fail("top_k", f"is {top}; at most {MAX_MATCHES} items per query")
        index = match.get_str("index")
        if Path(index).is_absolute() or ".." in Path(index).parts:
            raise match.fail(
                "index", f"is {index!r}; give a folder relative to the pipeline's directory"
            )
        nprobe = match.get_int("nprobe", minimum=1) if match.has("nprobe") else None
        return MatchStep(name, source_step, index, top, nprobe)
    reader.unknown(("name", "crop", "input"))
    crop = reader.section("crop")
    crop.unknown(("score_threshold", "max_crops", "padding", "min_size"))
    max_crops = crop.get_int("max_crops", 100, minimum=1)
    if max_crops > MAX_CROPS:
        raise crop.fail("max_crops", f"is {max_crops}; at most {MAX_CROPS} crops per image")
    threshold = crop.get_float("score_threshold", 0.0)
    if threshold > 1.0:
        raise crop.fail("score_threshold", f"is {threshold}; scores run from 0 to 1")
    return CropStep(
        name,
        source_step,
        score_threshold=threshold,
        max_crops=max_crops,
        padding=crop.get_float("padding", 0.0),
        min_size=crop.get_int("min_size", 4, minimum=1),
    )


def _check_acyclic(source: Path, steps: list[Step]) -> None:
    """Every step must reach the image by following ``input``; a loop never does."""
    reads = {s.name: s.input for s in steps}
    for step in steps:
        seen = [step.name]
        current = step.input
        while current != IMAGE:
            if current in seen:
                loop = " -> ".join([*seen[seen.index(current) :], current])
                raise _fail(source, step.name, f"is in a cycle ({loop}); steps must form a tree")
            seen.append(current)
            current = reads[current]
