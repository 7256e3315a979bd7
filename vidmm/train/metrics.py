"""The field's standard metrics, in pure numpy: retrieval, classification, QA and captioning.

Every score is a percentage (0–100), as papers report them: R@k, top-k and QA accuracy, and the
caption metrics too (coco-caption returns fractions; BLEU-4 0.42 and CIDEr-D 0.536 are reported as
42.0 and 53.6). Ranks (MdR, MnR) are 1-based.

Ties in a ranking are broken by expectation: a positive tied with m negatives (and with p-1 other
positives) is ranked 1 + (#negatives scoring strictly higher) + m / (p + 1), its expected rank when
the tied candidates are put in random order, as collaborative-experts / Frozen-in-Time do with
``break_ties="averaging"``. So a model that scores everything alike gets rank (C + 1) / 2, never R@1
= 100. The MSR-VTT evaluation code of CLIP4Clip sorts scores and keeps *every* position whose score
equals the positive's, so a query with k ties adds k ranks (and k to the denominator); with real
float scores ties do not happen and all three agree.
"""

from __future__ import annotations

import math
import re
import shutil
from importlib.util import find_spec
from collections import Counter
from typing import Iterable, Sequence

import numpy as np

Positives = np.ndarray | Sequence[int] | Sequence[Iterable[int]]


def positive_ranks(scores: np.ndarray, positives: Positives) -> np.ndarray:
    """The 1-based rank of each query's best-ranked positive, ties by expectation (see the module).

    scores: (Q, C), higher is better. positives: (Q,) candidate indices (one correct candidate per
    query) or, per query, a collection of correct indices (e.g. all captions of a video).
    Returns (Q,) float ranks.
    """
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 2 or scores.shape[1] == 0:
        raise ValueError(f"scores must be (queries, candidates), got shape {scores.shape}")
    if np.isnan(scores).any():
        raise ValueError("scores contain NaN")
    is_positive = _positive_mask(positives, *scores.shape)  # (Q, C)
    best = np.where(is_positive, scores, -np.inf).max(axis=1, keepdims=True)  # (Q, 1)
    above = (~is_positive & (scores > best)).sum(axis=1)
    tied_negatives = (~is_positive & (scores == best)).sum(axis=1)
    tied_positives = (is_positive & (scores == best)).sum(axis=1)
    return 1.0 + above + tied_negatives / (tied_positives + 1)


def rank_metrics(scores: np.ndarray, positives: Positives) -> dict[str, float]:
    """R@1, R@5, R@10 (percent of queries whose best positive ranks within k), MdR and MnR.

    scores: (Q, C); positives as in `positive_ranks`.
    """
    ranks = positive_ranks(scores, positives)
    metrics = {f"R@{k}": _percent(ranks <= k) for k in (1, 5, 10)}
    metrics["MdR"] = float(np.median(ranks))
    metrics["MnR"] = float(ranks.mean())
    return metrics


def retrieval_metrics(sim: np.ndarray, text_to_video: Sequence[int]) -> dict[str, dict[str, float]]:
    """Text→video and video→text `rank_metrics` from one similarity matrix.

    sim: (T texts, V videos). text_to_video: (T,) the video each text describes; a video with
    several texts counts as found (v2t) at the rank of its best-ranked text.
    """
    sim = np.asarray(sim)
    text_to_video = np.asarray(text_to_video)
    if sim.ndim != 2 or text_to_video.shape != (sim.shape[0],):
        raise ValueError(f"sim (texts, videos) {sim.shape} and text_to_video {text_to_video.shape} do not match")
    texts_of = [np.flatnonzero(text_to_video == v) for v in range(sim.shape[1])]
    return {"t2v": rank_metrics(sim, text_to_video), "v2t": rank_metrics(sim.T, texts_of)}


def normalize_caption(text: str) -> str:
    """A caption as compared for sameness: its `tokenize` words joined by single spaces."""
    return " ".join(tokenize(text))


def shared_caption_positives(captions: Sequence[str], text_to_video: Sequence[int]) -> tuple[list[set[int]], list[list[int]]]:
    """Which candidates are right when captions repeat: for each text, every video one of whose
    texts is the same caption (after `normalize_caption`); for each video, every text equal to one
    of its own. Feed to `rank_metrics(sim, t2v)` and `rank_metrics(sim.T, v2t)`.

    captions: (T,) texts; text_to_video: (T,) the video each text belongs to.
    """
    keys = [normalize_caption(c) for c in captions]
    videos_of: dict[str, set[int]] = {}
    for key, video in zip(keys, text_to_video):
        videos_of.setdefault(key, set()).add(int(video))
    t2v = [videos_of[key] for key in keys]
    n_videos = int(max(text_to_video)) + 1
    v2t: list[list[int]] = [[] for _ in range(n_videos)]
    for t, key in enumerate(keys):
        for video in videos_of[key]:
            v2t[video].append(t)
    return t2v, v2t


def classification_metrics(scores: np.ndarray, labels: Sequence[int]) -> dict[str, float]:
    """top1, top5 (top-min(5, C)) and mean_class_acc (top-1 averaged over the classes in `labels`).

    scores: (N, C) class scores or probabilities; labels: (N,) class indices. A tie counts as in
    `positive_ranks` (a label tied for first with another class is a top-1 miss).
    """
    labels = np.asarray(labels)
    ranks = positive_ranks(scores, labels)
    hit = ranks <= 1
    k = min(5, np.shape(scores)[1])
    per_class = [hit[labels == c].mean() for c in np.unique(labels)]
    return {"top1": _percent(hit), "top5": _percent(ranks <= k), "mean_class_acc": 100.0 * float(np.mean(per_class))}


_ARTICLES = {"a", "an", "the"}
_NUMBERS = dict(zip("zero one two three four five six seven eight nine ten".split(), map(str, range(11))))


def normalize_answer(text: str) -> str:
    """VQA's answer normalisation, simplified: lowercase, drop apostrophes ("don't" → "dont"),
    other punctuation becomes a space (a decimal point stays), articles dropped, number words
    zero–ten become digits, whitespace collapsed."""
    text = text.lower().replace("'", "").replace("’", "")
    text = re.sub(r"[^\w\s.]|_|(?<!\d)\.|\.(?!\d)", " ", text)  # punctuation, and periods not between digits
    return " ".join(_NUMBERS.get(w, w) for w in text.split() if w not in _ARTICLES)


def qa_accuracy(predictions: Sequence[str], answers: Sequence[str | Sequence[str]]) -> float:
    """Percent of predictions equal, after `normalize_answer`, to the answer or to one of a list of
    acceptable answers."""
    if len(predictions) != len(answers) or not predictions:
        raise ValueError(f"need as many answers as predictions (and some): {len(predictions)} vs {len(answers)}")
    accepted = [{normalize_answer(a) for a in ([ans] if isinstance(ans, str) else ans)} for ans in answers]
    return _percent([normalize_answer(p) in ok for p, ok in zip(predictions, accepted)])


def tokenize(text: str) -> list[str]:
    """Lowercase words: runs of letters and digits, keeping in-word apostrophes and hyphens
    ("man's", "black-and-white"); all other punctuation is dropped.

    coco-caption tokenises with the Java PTB tokenizer and then drops punctuation tokens; it also
    splits contractions ("man's" → "man 's"), which this does not, so scores on text with
    contractions can differ slightly from the official ones.
    """
    return re.findall(r"[^\W_]+(?:['’-][^\W_]+)*", text.lower())


def caption_metrics(
    candidates: Sequence[str], references: Sequence[Sequence[str]], *, meteor: bool | None = None
) -> dict[str, float | str]:
    """BLEU-4, ROUGE-L and CIDEr (CIDEr-D) as coco-caption computes them, after `tokenize`.

    candidates: one generated caption per video; references: (one or more) reference captions per
    video. BLEU-4 is corpus-level, with the brevity penalty from the reference length closest to
    each candidate (the shorter on a tie). ROUGE-L is the LCS F-measure (beta 1.2) from the best
    precision and best recall over a candidate's references, averaged over candidates. CIDEr-D: 1–4
    grams, TF-IDF with document frequencies over the *reference* sets of this corpus (so it needs
    many videos to mean anything), clipped, Gaussian length penalty sigma 6, x10.

    meteor: METEOR from coco-caption's own jar (pip package ``pycocoevalcap``, run with ``java``;
    about 15 s to start); None computes it when both are present, True requires it. SPICE is never
    computed (coco-caption downloads Stanford CoreNLP for it on first use). "note" says what was
    left out and why.
    """
    if len(candidates) != len(references) or not candidates:
        raise ValueError(f"need one reference list per candidate (and some): {len(candidates)} vs {len(references)}")
    cands = [tokenize(c) for c in candidates]
    refs = [[tokenize(r) for r in rs] for rs in references]
    if any(not rs or not all(rs) for rs in refs):
        raise ValueError("every candidate needs at least one non-empty reference")
    metrics: dict[str, float | str] = {
        "BLEU-4": 100.0 * bleu(cands, refs),
        "ROUGE-L": 100.0 * float(np.mean([rouge_l(c, rs) for c, rs in zip(cands, refs)])),
        "CIDEr": 100.0 * float(np.mean(cider_d(cands, refs))),
    }
    left_out = ["SPICE (needs Stanford CoreNLP, which coco-caption downloads)"]
    missing = _meteor_missing()
    if meteor is False:
        left_out.insert(0, "METEOR (not asked for)")
    elif missing:
        if meteor:
            raise RuntimeError(f"METEOR needs {missing}")
        left_out.insert(0, f"METEOR (needs {missing})")
    else:
        metrics["METEOR"] = 100.0 * coco_meteor(cands, refs)
    metrics["note"] = f"not computed: {'; '.join(left_out)}. Tokens by vidmm.train.metrics.tokenize, not the PTB tokenizer"
    return metrics


def coco_meteor(candidates: Sequence[list[str]], references: Sequence[Sequence[list[str]]]) -> float:
    """Corpus METEOR 1.5 (0–1) of tokenised captions, by coco-caption's jar in a Java process."""
    from pycocoevalcap.meteor.meteor import Meteor  # optional: Java and a 6 MB jar

    scorer = Meteor()
    try:
        score, _ = scorer.compute_score(
            {i: [" ".join(r) for r in refs] for i, refs in enumerate(references)},
            {i: [" ".join(c)] for i, c in enumerate(candidates)},
        )
    finally:
        del scorer  # its __del__ ends the Java process
    return float(score)


def _meteor_missing() -> str | None:
    """What METEOR lacks here (a ``java`` on PATH, the pycocoevalcap package), or None."""
    lacking = [name for name, ok in (("java", shutil.which("java")), ("pycocoevalcap", find_spec("pycocoevalcap"))) if not ok]
    return " and ".join(lacking) or None


def bleu(candidates: Sequence[list[str]], references: Sequence[Sequence[list[str]]], n: int = 4) -> float:
    """Corpus BLEU-n (0–1) of tokenised captions, as coco-caption's Bleu scorer (option "closest")."""
    correct, guessed = np.zeros(n), np.zeros(n)
    cand_len = ref_len = 0
    for cand, refs in zip(candidates, references):
        cand_len += len(cand)
        ref_len += min((abs(len(r) - len(cand)), len(r)) for r in refs)[1]
        counts = _ngrams(cand, n)
        max_ref = Counter()
        for r in refs:
            max_ref |= _ngrams(r, n)  # | keeps each n-gram's largest count: the clipping bound
        for gram, count in counts.items():
            correct[len(gram) - 1] += min(count, max_ref[gram])
        guessed += [max(0, len(cand) - k + 1) for k in range(1, n + 1)]
    if not correct.all():
        # coco-caption's division guards make 0/0 a precision of 1e-6, so it reports up to ~3 here
        return 0.0
    precision = math.exp(np.log(correct / guessed).mean())
    return precision * (math.exp(1 - ref_len / cand_len) if cand_len < ref_len else 1.0)


def rouge_l(candidate: list[str], references: Sequence[list[str]], beta: float = 1.2) -> float:
    """ROUGE-L (0–1) of one tokenised caption: F-measure of the best LCS precision and best recall."""
    if not candidate:
        return 0.0
    lcs = [_lcs(candidate, r) for r in references]
    precision = max(x / len(candidate) for x in lcs)
    recall = max(x / len(r) for x, r in zip(lcs, references))
    if precision == 0 or recall == 0:
        return 0.0
    return (1 + beta**2) * precision * recall / (recall + beta**2 * precision)


def cider_d(candidates: Sequence[list[str]], references: Sequence[Sequence[list[str]]], n: int = 4, sigma: float = 6.0) -> np.ndarray:
    """CIDEr-D of each tokenised caption (coco-caption's scale: 0–10), IDF from `references`."""
    ref_counts = [[_ngrams(r, n) for r in refs] for refs in references]
    document_frequency = Counter(g for refs in ref_counts for g in set().union(*refs))
    log_documents = math.log(len(references))

    def tfidf(counts: Counter) -> tuple[list[dict], np.ndarray]:
        """Per n-gram order: the TF-IDF vector and its norm."""
        vectors = [{} for _ in range(n)]
        for gram, tf in counts.items():
            vectors[len(gram) - 1][gram] = tf * (log_documents - math.log(max(1.0, document_frequency[gram])))
        return vectors, np.array([math.sqrt(sum(v * v for v in vec.values())) for vec in vectors])

    scores = []
    for cand, refs, counts in zip(candidates, references, ref_counts):
        vec, norm = tfidf(_ngrams(cand, n))
        total = np.zeros(n)
        for ref, ref_ngrams in zip(refs, counts):
            ref_vec, ref_norm = tfidf(ref_ngrams)
            # Clipping: a candidate n-gram earns at most the reference's weight for it (the "-D").
            dot = np.array([sum(min(w, ref_vec[k].get(g, 0.0)) * ref_vec[k].get(g, 0.0) for g, w in vec[k].items()) for k in range(n)])
            cosine = np.divide(dot, norm * ref_norm, out=np.zeros(n), where=norm * ref_norm > 0)
            total += cosine * math.exp(-((len(cand) - len(ref)) ** 2) / (2 * sigma**2))
        scores.append(10.0 * total.mean() / len(refs))
    return np.array(scores)


def _ngrams(words: list[str], n: int) -> Counter:
    """Counts of every 1..n-gram of `words`, keyed by tuple."""
    return Counter(tuple(words[i : i + k]) for k in range(1, n + 1) for i in range(len(words) - k + 1))


def _lcs(a: list[str], b: list[str]) -> int:
    """Length of the longest common subsequence (one row of the DP table at a time)."""
    row = [0] * (len(b) + 1)
    for x in a:
        diagonal = 0
        for j, y in enumerate(b, 1):
            diagonal, row[j] = row[j], diagonal + 1 if x == y else max(row[j], row[j - 1])
    return row[-1]


def _positive_mask(positives: Positives, queries: int, candidates: int) -> np.ndarray:
    """(Q, C) bool: which candidates are correct for each query; every query needs one."""
    if len(positives) != queries:
        raise ValueError(f"{len(positives)} positives for {queries} queries")
    mask = np.zeros((queries, candidates), dtype=bool)
    for q, p in enumerate(positives):
        idx = np.atleast_1d(np.asarray(list(p) if isinstance(p, (set, frozenset)) else p, dtype=np.int64))
        if idx.size == 0:
            raise ValueError(f"query {q} has no correct candidate")
        if idx.min() < 0 or idx.max() >= candidates:
            raise ValueError(f"query {q}: candidate index out of range 0..{candidates - 1}: {idx.tolist()}")
        mask[q, idx] = True
    return mask


def _percent(hits: Sequence[bool] | np.ndarray) -> float:
    return 100.0 * float(np.mean(hits))
