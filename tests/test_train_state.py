"""The trainer state is stored without pickle, and a planted pickle never runs (issue #14, item 10)."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import math
import pickle
import random
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from train_helpers import colour_manifests, tiny_clip, tiny_config
from vidmm.cli import app
from vidmm.train import Optim, Recipe, train
from vidmm.train.state import StateError, load_state, save_state

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_a_state_comes_back_as_it_was_written(tmp_path):
    generator = torch.Generator().manual_seed(3)
    model = torch.nn.Linear(3, 2)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model(torch.ones(1, 3)).sum().backward()
    optimizer.step()
    state = {
        "epoch": 2,
        "best": math.nan,
        "history": [{"top1": 50.0, "lr": 1e-3}],
        "optimizer": optimizer.state_dict(),
        "rng": {"shuffle": generator.get_state(), "numpy": np.random.get_state(), "python": random.getstate()},
    }
    save_state(tmp_path, state)
    back = load_state(tmp_path)
    assert math.isnan(back["best"]) and back["epoch"] == 2 and back["history"] == state["history"]
    assert back["optimizer"]["param_groups"] == state["optimizer"]["param_groups"]  # betas stays a tuple
    assert isinstance(back["optimizer"]["param_groups"][0]["betas"], tuple)
    for index, tensors in state["optimizer"]["state"].items():  # keyed by parameter index, an int
        for name, value in tensors.items():
            assert torch.equal(back["optimizer"]["state"][index][name], value)
    assert torch.equal(back["rng"]["shuffle"], state["rng"]["shuffle"])
    assert back["rng"]["python"] == state["rng"]["python"]
    kind, keys, *rest = back["rng"]["numpy"]
    assert kind == "MT19937" and keys.dtype == np.uint32 and np.array_equal(keys, state["rng"]["numpy"][1])
    assert tuple(rest) == state["rng"]["numpy"][2:]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["trainer.json", "trainer.safetensors"]


def test_a_damaged_state_names_its_file(tmp_path):
    save_state(tmp_path, {"epoch": 1, "x": torch.ones(2)})
    (tmp_path / "trainer.json").write_text('{"dict": {"epoch": 1, "x": {"tensor": "t9"}}}')
    with pytest.raises(StateError, match="trainer.json: does not match trainer.safetensors"):
        load_state(tmp_path)
    (tmp_path / "trainer.safetensors").write_bytes(b"\x00" * 20)
    with pytest.raises(StateError, match="trainer.safetensors: not a trainer state"):
        load_state(tmp_path)


class _Payload:
    """Unpickling this makes a folder: proof that loading ran code from the file."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.mkdir, (str(self.marker),)


def test_a_planted_trainer_pt_is_never_unpickled(tmp_path):
    root = tmp_path
    clip = tiny_clip(root / "clip")
    train_manifest, val_manifest = colour_manifests(root / "data", 2, 1)
    recipe = Recipe(
        model=tiny_config(clip), task="classify", train=train_manifest, val=val_manifest, out=root / "run",
        cache=root / "cache", sampling={"num_frames": 2, "short_side": 32}, optim=Optim(epochs=2, batch_size=2, min_epochs=0),
    )  # fmt: skip
    train(recipe, progress=False)
    last = root / "run" / "last"
    for name in ("trainer.json", "trainer.safetensors", "trainer.pt"):  # whatever state this vidmm wrote
        (last / name).unlink(missing_ok=True)
    marker = root / "pwned"
    (last / "trainer.pt").write_bytes(pickle.dumps({"epoch": 1, "payload": _Payload(marker)}))

    with pytest.raises(StateError, match=r"trainer.pt: a pickled trainer state, which vidmm does not load"):
        train(recipe, progress=False)
    assert not marker.exists()
    result = CliRunner().invoke(app, ["train", "--quiet", str(_recipe_file(recipe, root))])
    assert result.exit_code == 2 and "does not load (it could run code)" in result.stderr and not marker.exists()


def _recipe_file(recipe: Recipe, root: Path) -> Path:
    import yaml

    data = {**recipe.to_dict(), "optim": recipe.optim.__dict__}
    data = {k: str(v) if isinstance(v, Path) else v for k, v in data.items() if v is not None}
    path = root / "recipe.yaml"
    path.write_text(yaml.safe_dump(data))
    return path
