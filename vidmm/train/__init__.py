"""Training and evaluation: manifests, the feature cache, the training loop, metrics.

Nothing in the core (io, models, tasks, index) imports this package.
"""
