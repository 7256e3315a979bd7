"""The registered models as a user chooses among them: what each can do, and whether it is here."""

from __future__ import annotations

from dataclasses import dataclass

from vidmm.models import registry
from vidmm.models.hub import HubOptions
from vidmm.tasks.protocol import family_tasks


@dataclass(frozen=True)
class ModelEntry:
    """One row of `model_table()` (``vidmm models``): local says whether loading needs no download."""

    name: str
    family: str
    tasks: tuple[str, ...]
    params: int | None
    local: bool
    description: str


def model_table(cache_dir: str | None = None, revision: str | None = None) -> list[ModelEntry]:
    """Every registered model with its family, tasks (from what its family implements), parameter
    count and whether its weights are on this machine."""
    hub = HubOptions(cache_dir=cache_dir, revision=revision)
    rows = []
    for name in registry.list_models():
        spec = registry.spec(name)
        tasks = family_tasks(registry.family(spec.family), spec.config)
        local = registry.weights_available(spec, hub)
        rows.append(ModelEntry(name, spec.family, tasks, spec.params, local, spec.description))
    return rows
