"""Training and evaluation: manifests, the feature cache, the training loop, metrics.

    from vidmm.train import train
    result = train("configs/train/lite-temporal-classify.yaml")   # TrainResult; vidmm.load(result.checkpoint)
    runs = train_seeds("configs/train/temporal-direction.yaml", 3)  # mean ± std over seeds

Nothing in the core (io, data, models, tasks, index) imports this package. Names are imported on
first use, so reading a manifest does not pull in torch.
"""

_EXPORTS = {
    "ClipFeatures": "vidmm.train.cache",
    "FeatureCache": "vidmm.train.cache",
    "frame_features": "vidmm.train.cache",
    "EvalReport": "vidmm.train.evaluate",
    "evaluate": "vidmm.train.evaluate",
    "format_report": "vidmm.train.evaluate",
    "SeedRuns": "vidmm.train.loop",
    "TrainResult": "vidmm.train.loop",
    "train": "vidmm.train.loop",
    "train_seeds": "vidmm.train.loop",
    "Inputs": "vidmm.train.inputs",
    "prepare": "vidmm.train.inputs",
    "RecipeError": "vidmm.train.recipe",
    "Example": "vidmm.data.manifest",
    "ManifestError": "vidmm.data.manifest",
    "read_manifest": "vidmm.data.manifest",
    "write_manifest": "vidmm.data.manifest",
    "Optim": "vidmm.train.recipe",
    "Recipe": "vidmm.train.recipe",
    "load_recipe": "vidmm.train.recipe",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'vidmm.train' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(_EXPORTS[name]), name)
