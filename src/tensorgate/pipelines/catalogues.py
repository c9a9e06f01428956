"""The catalogue indexes the pipelines' match steps search, loaded once per build.

A rebuilt index (a new ``manifest.json``) is loaded beside the old one, off the event
loop, and swapped in with one assignment: requests that already hold the old index
finish with it, the next ones search the new.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from tensorgate.errors import ConfigError
from tensorgate.pipelines.plan import PipelinePlan
from tensorgate.repository.store import resolve_inside
from tensorgate.search.index import MANIFEST, Catalogue

__all__ = ["Catalogues"]

Stamp = tuple[int, int]


class Catalogues:
    """Loaded catalogue indexes by folder, each with the manifest it was loaded from."""

    def __init__(self, repository: Path) -> None:
        self._repository = repository
        self._loaded: dict[Path, tuple[Stamp, Catalogue]] = {}

    def get(self, plan: PipelinePlan, step_name: str) -> Catalogue:
        """The loaded index of one of ``plan``'s match steps."""
        step = next(m for m in plan.matches if m.name == step_name)
        return self._loaded[plan.index_folder(step).resolve()][1]

    async def refresh(self, plan: PipelinePlan) -> None:
        """Load (or reload, when rebuilt) every index ``plan``'s match steps search,
        and check each fits the step it serves.

        Raises:
            ConfigError: naming the file, the step and what is wrong.
        """
        for step in plan.matches:
            where = f"{plan.config.source}: step {step.name!r}"
            try:
                folder = resolve_inside(self._repository, plan.index_folder(step))
                stat = (folder / MANIFEST).stat()
            except ConfigError as exc:
                raise ConfigError(f"{where}: {exc.message}") from None
            except OSError:
                raise ConfigError(
                    f"{where} searches {plan.index_folder(step)}, which holds no catalogue "
                    "index; build it with 'tensorgate index build --model "
                    f"{plan.model_of(step).model} --input CATALOGUE --output "
                    f"{plan.index_folder(step)}'"
                ) from None
            stamp = (stat.st_mtime_ns, stat.st_size)
            cached = self._loaded.get(folder)
            if cached is None or cached[0] != stamp:
                try:
                    catalogue = await asyncio.to_thread(Catalogue, folder)
                except ConfigError as exc:
                    raise ConfigError(f"{where}: {exc.message}") from None
                self._loaded[folder] = (stamp, catalogue)
            catalogue = self._loaded[folder][1]
            model = plan.model_of(step)
            if catalogue.manifest.model != model.model:
                raise ConfigError(
                    f"{where} reads {model.name!r} (model {model.model!r}) but its index was "
                    f"built with {catalogue.manifest.model!r}: vectors of different models "
                    "do not compare; build the index with the step's model"
                )
            expected = plan.dimensions.get(model.name)
            if expected is not None and expected != catalogue.manifest.dimension:
                raise ConfigError(
                    f"{where}: its index holds {catalogue.manifest.dimension}-float vectors "
                    f"but {model.model!r} answers {expected}; build the index again"
                )
