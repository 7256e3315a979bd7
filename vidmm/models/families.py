"""The table of model families: each family class registers itself here, in its own module.

    @register_family("xclip", model_types=("xclip",))
    class XClipAdapter(HubAdapter): ...

A family is a class that builds one kind of model (see `registry.Family`). `model_types` are the
transformers ``model_type`` names whose `save_pretrained` folders this family loads directly.
"""

from __future__ import annotations

PARTS = ("frames", "text")  # what a family with `loads_by_parts` can load apart (see `registry.load`)
FAMILIES: dict[str, type] = {}
MODEL_TYPES: dict[str, str] = {}  # transformers model_type -> family name


def register_family(name: str, *, model_types: tuple[str, ...] = ()):
    """Class decorator: make the class build every config (and saved folder) whose family is `name`."""

    def add(cls: type) -> type:
        cls.family = name
        FAMILIES[name] = cls
        MODEL_TYPES.update(dict.fromkeys(model_types, name))
        return cls

    return add
