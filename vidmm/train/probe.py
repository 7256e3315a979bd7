"""The linear probe: logistic regression on the video embeddings of an untrained model.

The quick, strong baseline every trained temporal module has to beat. The fitted regression is
written into the model's classifier head (`config.labels` in the order of the classes), with the
feature standardisation folded into its weights, so `vidmm.load(folder).classify_own(video)`
gives the probe's probabilities with no scikit-learn at inference.
"""

from __future__ import annotations

import numpy as np
import torch

from vidmm.train.objectives import EVAL_BATCH


@torch.no_grad()
def video_embeddings(model, features: torch.Tensor) -> torch.Tensor:
    """Cached frame features `(N, T, D)` -> the model's video embeddings `(N, D)` (before the
    retrieval projection: what the classifier head sees)."""
    return torch.cat([model.encode_features(f.to(model.device)).video for f in features.split(EVAL_BATCH)]).float().cpu()


@torch.no_grad()
def fit_probe(model, features: torch.Tensor, y: torch.Tensor, *, C: float = 1.0, seed: int = 0) -> None:
    """Fit multinomial logistic regression of class indices `y` `(N,)` on the video embeddings of
    `features` `(N, T, D)`, and load it into ``model.classifier`` (one row per ``config.labels``)."""
    from sklearn.linear_model import LogisticRegression

    x = video_embeddings(model, features).double().numpy()  # (N, D)
    y = y.cpu().numpy()
    if len(model.config.labels) < 2 or len(np.unique(y)) != len(model.config.labels):
        raise ValueError(f"a linear probe needs every label of {model.config.labels} (two or more) in its training set")
    mean, std = x.mean(0), x.std(0) + 1e-6  # standardised inputs: one C suits any encoder's scale
    fitted = LogisticRegression(C=C, max_iter=5000, random_state=seed).fit((x - mean) / std, y)
    coef, intercept = fitted.coef_ / std, fitted.intercept_ - (fitted.coef_ * mean / std).sum(1)
    if coef.shape[0] == 1:  # two classes: sklearn keeps one logit, w.x + b = logit(1) - logit(0)
        coef, intercept = np.vstack([np.zeros_like(coef), coef]), np.concatenate([[0.0], intercept])
    model.classifier.weight.copy_(torch.from_numpy(coef))
    model.classifier.bias.copy_(torch.from_numpy(intercept))
