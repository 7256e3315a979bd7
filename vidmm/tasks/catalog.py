"""The registered models as a user chooses among them: what each can do, whether it is here, and
which one `--model auto` takes for a task.

`auto` takes, for a task, the model with the highest ``prefer_for`` number for it among those whose
weights are on this machine (the numbers live in ``vidmm/models/configs/*.yaml``, not here). When
that is the task's last resort (its lowest-ranked model: lite, whose weights come with the
package), the choice carries a one-line note naming the top-ranked model and how to pull it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from vidmm.models import registry
from vidmm.models.hub import HubOptions
from vidmm.tasks.protocol import TASKS, UnsupportedTaskError, family_tasks, tasks_of

AUTO = "auto"  # the model name that asks for `best_local_model`


@dataclass(frozen=True)
class ModelEntry:
    """One row of `model_table()` (``vidmm models``): local says whether loading needs no download;
    prefer_for, how strongly `--model auto` prefers it for each task (higher wins)."""

    name: str
    family: str
    tasks: tuple[str, ...]
    params: int | None
    local: bool
    description: str
    prefer_for: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Choice:
    """What `--model auto` takes for a task; note: one line for the user when a better model is a
    `vidmm models pull` away, else None."""

    name: str
    note: str | None = None


def model_table(cache_dir: str | None = None, revision: str | None = None) -> list[ModelEntry]:
    """Every registered model with its family, tasks (from what its family implements), parameter
    count, whether its weights are on this machine, and its `--model auto` preferences."""
    hub = HubOptions(cache_dir=cache_dir, revision=revision)
    rows = []
    for name in registry.list_models():
        spec = registry.spec(name)
        tasks = family_tasks(registry.family(spec.family), spec.config)
        local = registry.weights_available(spec, hub)
        rows.append(ModelEntry(name, spec.family, tasks, spec.params, local, spec.description, dict(spec.prefer_for)))
    return rows


def ranked(task: str, table: list[ModelEntry]) -> list[ModelEntry]:
    """The models `auto` may take for `task`, most preferred first."""
    return sorted((row for row in table if task in row.prefer_for), key=lambda row: -row.prefer_for[task])


def best_local_model(task: str, table: list[ModelEntry] | None = None) -> Choice:
    """The most preferred model for `task` whose weights are on this machine (see the module
    docstring); `table` defaults to `model_table()`. Raises `ValueError` for an unknown task."""
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; tasks: {', '.join(TASKS)}")
    order = ranked(task, model_table() if table is None else table)
    if not order:
        raise UnsupportedTaskError(f"no registered model is preferred for {task} (prefer_for in vidmm/models/configs)")
    here = [row for row in order if row.local]
    if not here:  # nothing for it on this machine: take the best, whose loading says how to pull it
        return Choice(order[0].name)
    pick, best = here[0], order[0]
    if pick is order[-1] and best is not pick:
        pull = f"`vidmm models pull {best.name}` fetches it"
        return Choice(pick.name, f"note: using {pick.name} to {task}, no better model for it is on this machine ({pull})")
    return Choice(pick.name)


def require_task(name: str, task: str, model: Any = None) -> None:
    """Raise `UnsupportedTaskError` unless the model can do `task`: a registered `name` is checked
    from its family before loading anything; anything else (a folder) needs the loaded `model`.
    The message says what it can do and which models can do `task`, those on this machine first."""
    if model is not None:
        can = tasks_of(model)
    elif (spec := registry.spec(name)) is not None:
        can = family_tasks(registry.family(spec.family), spec.config)
    else:
        return
    if task in can:
        return
    able = [row for row in ranked(task, model_table()) if row.name != name]
    able = sorted(able, key=lambda row: not row.local)[:2]  # stable: preference order within local / not
    does = f"can {_and(can)}" if can else "can do none of vidmm's tasks"
    use = f"; to {task}, use {' or '.join(row.name for row in able)}" if able else ""
    if not all(row.local for row in able):
        use += f" (`vidmm models pull {next(row.name for row in able if not row.local)}` fetches it)"
    raise UnsupportedTaskError(f"{name} {does}{use}")


def _and(words: tuple[str, ...]) -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"
