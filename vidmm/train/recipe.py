"""A training recipe: which model, which task, which data, how to optimise; one YAML file.

    model: lite                      # a registered name, a saved model folder, or a config mapping
    overrides:                       # merged into the model's config before the heads are built
      temporal: {kind: transformer, layers: 2, heads: 4}
    task: classify                   # retrieval | classify | qa | choice | caption | probe
    train: data/all.csv#train        # manifests (or one split of one); paths are relative to the recipe file
    val: data/all.csv#val
    test: data/all.csv#test          # optional: scored with the best checkpoint when training ends
    sampling: {num_frames: 8}        # merged into the model's sampling policy, and saved with it
    optim: {epochs: 30, batch_size: 32, lr: 1.0e-3, patience: 5, min_epochs: 10}
    seed: 0
    out: runs/lite-temporal-classify # checkpoints best/ and last/, metrics.jsonl
    cache: cache/features            # the feature cache, shared by every recipe on the same encoder

Every field is described in `SCHEMA` (``vidmm train --schema`` prints it; the README holds the
same table). `load_recipe` checks the whole file before anything is loaded and reports every
problem at once, each with its file, line and key (`RecipeError`).
"""

from __future__ import annotations

import collections.abc
import dataclasses
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from vidmm.io import SamplingPolicy
from vidmm.models.config import from_dict
from vidmm.train.objectives import OBJECTIVES

TASKS = tuple(OBJECTIVES)
MANIFESTS = ("train", "val", "test")  # the fields that name a manifest (or a split of one)


def _doc(text: str, default: Any = dataclasses.MISSING, factory: Any = dataclasses.MISSING):
    """A dataclass field with its meaning for the schema table."""
    if factory is not dataclasses.MISSING:
        return field(default_factory=factory, metadata={"doc": text})
    return field(default=default, metadata={"doc": text})


class RecipeError(ValueError):
    """A recipe, or an input it names (a manifest, the model's config), that cannot train.

    problems: one ``file:line: key: what was expected`` per problem, all of them at once.
    """

    def __init__(self, problems: Sequence[str]):
        self.problems = tuple(problems)
        shown = "\n  ".join(self.problems[:30])
        more = f"\n  … and {len(self.problems) - 30} more" if len(self.problems) > 30 else ""
        super().__init__(f"{len(self.problems)} problem(s) in the training inputs:\n  {shown}{more}")


@dataclass(frozen=True)
class Optim:
    """AdamW with linear warm-up then cosine decay, per step, and early stopping."""

    epochs: int = _doc("the most epochs to run", 30)
    batch_size: int = _doc("clips per step", 32)
    lr: float = _doc("peak learning rate of AdamW", 1e-3)
    weight_decay: float = _doc("AdamW's decoupled weight decay", 0.05)
    warmup: float = _doc("linear warm-up: below 1 a fraction of all steps, from 1 a number of steps", 0.1)
    grad_clip: float | None = _doc("the largest gradient norm; null: no clipping", 1.0)
    patience: int | None = _doc("stop after this many epochs without a better validation metric; null: run every epoch", 5)
    min_epochs: int = _doc(
        "never stop before this many epochs (a small validation set's metric is noisy early on)", 10
    )


@dataclass(frozen=True)
class Recipe:
    """Everything one training run needs; see the module docstring for the YAML form."""

    model: str | Mapping[str, Any] = _doc("a registered name (`vidmm models`), a saved model folder, or a config mapping")
    task: str = _doc(f"what to train: {', '.join(TASKS)}")
    train: Path = _doc("the training manifest (.jsonl/.csv), or one split of it: `data.csv#train`")
    out: Path = _doc("the run's folder: best/ and last/ (model folders), metrics.jsonl, recipe.json")
    cache: Path = _doc("the feature cache folder, shared by every recipe on the same frame encoder")
    val: Path | None = _doc("the validation manifest or split (early stopping, best/); null: the training set", None)
    test: Path | None = _doc("scored with best/ when training ends, as `vidmm eval` scores it; null: none", None)
    overrides: Mapping[str, Any] = _doc("merged into the model's config, e.g. `{temporal: {kind: transformer}}`", factory=dict)
    sampling: Mapping[str, Any] = _doc(
        "merged into the model's sampling policy and saved with it, e.g. `{num_frames: 8}`; keys: "
        + ", ".join(f.name for f in dataclasses.fields(SamplingPolicy)),
        factory=dict,
    )
    optim: Optim = _doc("the optimiser and early stopping (the `optim.*` rows)", factory=Optim)
    seed: int = _doc("seeds Python, numpy and torch; `vidmm train --seeds N` runs seed, seed+1, …", 0)
    device: str = _doc("where the temporal module and heads train (cpu, cuda); features are cached on it too", "cpu")

    def __post_init__(self):
        problems = check_recipe(_plain_fields(self))
        if problems:
            raise RecipeError(problems)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], root: str | Path = ".", *, source: str = "recipe", lines=None) -> Recipe:
        """Build from parsed YAML; relative paths (and a model folder) resolve against `root`.

        Raises `RecipeError` with every problem (`source`:line: key: expected …); `lines` maps key
        paths to line numbers (`yaml_lines`)."""
        problems = check_recipe(data, source, lines or {})
        if problems:
            raise RecipeError(problems)
        data = dict(data)
        root = Path(root)
        for name in ("out", "cache", *MANIFESTS):
            if data.get(name) is not None:
                # normpath: "configs/train/../../runs/x" is printed and recorded; say "runs/x"
                data[name] = Path(os.path.normpath(root / Path(data[name]).expanduser()))
        model = data.get("model")
        if isinstance(model, str) and (root / model).is_dir():
            data["model"] = str(root / model)
        return from_dict(cls, data)  # nested dataclasses typed

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def load_recipe(path: str | Path) -> Recipe:
    """Read a recipe YAML file; its relative paths are relative to the file. Raises `RecipeError`
    naming every problem with its line, or `FileNotFoundError`."""
    read = read_recipe(path)
    if read.problems:
        raise RecipeError(read.problems)
    return Recipe.from_dict(read.data, root=read.path.parent, source=str(read.path), lines=read.lines)


@dataclass(frozen=True)
class RecipeFile:
    """A recipe file as read: its plain data, the line of every key path, and every problem found."""

    path: Path
    data: Mapping[str, Any]
    lines: Mapping[tuple[str, ...], int]
    problems: tuple[str, ...]

    def at(self, *key: str) -> str:
        return locator(str(self.path), self.lines)(*key)


def read_recipe(path: str | Path) -> RecipeFile:
    """Parse and check a recipe file without building anything. Raises `RecipeError` only where
    there is nothing to check (not YAML, not a mapping); `FileNotFoundError` for no file."""
    import yaml

    path = Path(path)
    text = path.read_text()
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        raise RecipeError([f"{where}: not valid YAML ({getattr(e, 'problem', None) or e})"]) from None
    if not isinstance(data, dict):
        raise RecipeError([f"{path}:1: a recipe is a YAML mapping of keys (model, task, train, …), got {_shown(data)}"])
    lines, duplicates = yaml_lines(node)
    problems = [f"{path}:{line}: {key}: given twice" for key, line in duplicates]
    return RecipeFile(path, data, lines, tuple(problems + check_recipe(data, str(path), lines)))


def yaml_lines(node) -> tuple[dict[tuple[str, ...], int], list[tuple[str, int]]]:
    """Line numbers (1-based) of every key path in a composed YAML mapping, and keys given twice."""
    import yaml

    lines: dict[tuple[str, ...], int] = {}
    duplicates: list[tuple[str, int]] = []

    def walk(mapping, prefix: tuple[str, ...]) -> None:
        for key, value in mapping.value:
            where = prefix + (str(key.value),)
            if where in lines:
                duplicates.append((".".join(where), key.start_mark.line + 1))
            lines[where] = key.start_mark.line + 1
            if isinstance(value, yaml.MappingNode):
                walk(value, where)

    if isinstance(node, yaml.MappingNode):
        walk(node, ())
    return lines, duplicates


# -- checking ------------------------------------------------------------------------------------


def check_recipe(data: Mapping[str, Any], source: str = "recipe", lines: Mapping[tuple[str, ...], int] | None = None) -> list[str]:
    """Every problem of a recipe's plain data: unknown and missing keys, wrong types, bad values."""
    at = locator(source, lines or {})
    problems = check_fields(Recipe, data, (), at)
    task = data.get("task")
    if isinstance(task, str) and task not in TASKS:
        problems.append(f"{at('task')}: expected one of {', '.join(TASKS)}, got {task!r}")
    optim = data.get("optim")
    if isinstance(optim, Mapping):
        problems += _check_optim(optim, at)
    sampling = data.get("sampling")
    if isinstance(sampling, Mapping):
        wrong = check_fields(SamplingPolicy, sampling, ("sampling",), at, required=False)
        if not wrong:
            try:
                SamplingPolicy(**sampling)
            except (TypeError, ValueError) as e:
                wrong.append(f"{at('sampling')}: {e}")
        problems += wrong
    return problems


def locator(source: str, lines: Mapping[tuple[str, ...], int]):
    """`at(*key)` -> ``"source:line: a.b"``: where a key is, by its own line or its nearest parent's."""

    def at(*key: str) -> str:
        line = None
        for n in range(len(key), 0, -1):
            line = line or lines.get(key[:n])
        return f"{source}:{line}: {'.'.join(key)}" if line else f"{source}: {'.'.join(key)}"

    return at


def check_fields(cls, data: Mapping[str, Any], prefix: tuple[str, ...], at, *, required: bool = True) -> list[str]:
    """Unknown keys, missing required ones, and values not of their field's type, in a mapping for
    dataclass `cls` and, through fields typed as dataclasses, in every mapping inside it."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    problems = [f"{at(*prefix, key)}: unknown key; expected one of {', '.join(fields)}" for key in data if key not in fields]
    for name, f in fields.items():
        if name not in data:
            if required and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                doc = f.metadata.get("doc")
                problems.append(f"{at(*prefix, name)}: missing; expected {_expected(hints[name])}" + (f" ({doc})" if doc else ""))
            continue
        value = data[name]
        if not _conforms(value, hints[name]):
            problems.append(f"{at(*prefix, name)}: expected {_expected(hints[name])}, got {_shown(value)}")
        elif isinstance(value, Mapping) and (nested := _dataclass_in(hints[name])) is not None:
            problems += check_fields(nested, value, (*prefix, name), at, required=required)
    return problems


def _dataclass_in(hint) -> type | None:
    """The dataclass in a field's type, whether written `X` or `X | None`."""
    candidates = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else (hint,)
    return next((c for c in candidates if dataclasses.is_dataclass(c)), None)


def _check_optim(optim: Mapping[str, Any], at) -> list[str]:
    """Values of the right type that still cannot train."""
    bounds = {  # name: (lowest allowed, strictly above it?)
        "epochs": (1, False), "batch_size": (1, False), "lr": (0, False), "weight_decay": (0, False),
        "warmup": (0, False), "grad_clip": (0, True), "patience": (1, False), "min_epochs": (0, False),
    }  # fmt: skip
    problems = []
    for name, (low, strict) in bounds.items():
        value = optim.get(name)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and (value <= low if strict else value < low):
            problems.append(f"{at('optim', name)}: expected a number {'above' if strict else 'at least'} {low}, got {value!r}")
    return problems


def _conforms(value: Any, hint: Any) -> bool:
    """Whether plain (YAML) `value` can stand for a field typed `hint`."""
    if hint is Any:
        return True
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_conforms(value, arg) for arg in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint in (str, Path):
        return isinstance(value, (str, Path)) and str(value) != ""
    if dataclasses.is_dataclass(hint) or hint is Mapping or origin in (dict, collections.abc.Mapping):
        return isinstance(value, Mapping) or dataclasses.is_dataclass(value)
    if origin is tuple:
        return isinstance(value, (list, tuple))
    return True


def _expected(hint: Any) -> str:
    """A type as the schema and the errors say it."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_expected(arg) for arg in typing.get_args(hint))
    names = {type(None): "null", bool: "true/false", int: "an integer", float: "a number", str: "a string", Path: "a path"}
    if hint in names:
        return names[hint]
    if dataclasses.is_dataclass(hint) or hint is Mapping or origin in (dict, collections.abc.Mapping):
        return "a mapping"
    return str(hint)


def _shown(value: Any) -> str:
    kinds = {str: "a string", bool: "a boolean", int: "an integer", float: "a number", list: "a list", dict: "a mapping"}
    text = repr(value)
    return f"{kinds.get(type(value), type(value).__name__)} {text[:40] + '…' if len(text) > 40 else text}"


def _plain_fields(recipe: Recipe) -> dict[str, Any]:
    """A recipe's own fields as `check_recipe` reads them (nested dataclasses as mappings)."""
    data = {f.name: getattr(recipe, f.name) for f in dataclasses.fields(recipe)}
    data["optim"] = dataclasses.asdict(recipe.optim) if dataclasses.is_dataclass(recipe.optim) else recipe.optim
    return data


# -- the schema ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SchemaRow:
    """One recipe key: its dotted name, type, default ("required" for none) and meaning."""

    key: str
    type: str
    default: str
    meaning: str


def schema() -> list[SchemaRow]:
    """Every recipe key, `sampling` keys included, from the dataclasses themselves."""
    rows = []
    hints = typing.get_type_hints(Recipe)
    for f in dataclasses.fields(Recipe):
        rows.append(SchemaRow(f.name, _expected(hints[f.name]), _default(f), f.metadata.get("doc", "")))
        if f.name == "optim":
            optim_hints = typing.get_type_hints(Optim)
            rows += [
                SchemaRow(f"optim.{o.name}", _expected(optim_hints[o.name]), _default(o), o.metadata.get("doc", ""))
                for o in dataclasses.fields(Optim)
            ]
    return rows


def schema_markdown() -> str:
    """`schema()` as a Markdown table (the README's, and `vidmm train --schema`)."""
    lines = ["| key | type | default | meaning |", "|---|---|---|---|"]
    lines += [f"| `{r.key}` | {r.type} | {r.default} | {r.meaning} |" for r in schema()]
    return "\n".join(lines)


def _default(f: dataclasses.Field) -> str:
    if f.default is not dataclasses.MISSING:
        return "null" if f.default is None else f"`{f.default}`"
    if f.default_factory is not dataclasses.MISSING:
        value = f.default_factory()
        return "`{}`" if value == {} else "see below"
    return "required"
