"""Training and evaluation: manifests, the feature cache, the training loop, metrics.

    from vidmm.train import train
    result = train("configs/train/lite-temporal-classify.yaml")   # TrainResult; vidmm.load(result.checkpoint)

Nothing in the core (io, models, tasks, index) imports this package. Names are imported on first
use, so reading a manifest does not pull in torch.
"""

_EXPORTS = {
    "ClipFeatures": "cache",
    "FeatureCache": "cache",
    "Sampling": "cache",
    "frame_features": "cache",
    "EvalReport": "evaluate",
    "format_report": "evaluate",
    "TrainResult": "loop",
    "train": "loop",
    "Example": "manifest",
    "clip_frames": "manifest",
    "ManifestError": "manifest",
    "read_manifest": "manifest",
    "write_manifest": "manifest",
    "Optim": "recipe",
    "Recipe": "recipe",
    "load_recipe": "recipe",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'vidmm.train' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"vidmm.train.{_EXPORTS[name]}"), name)
