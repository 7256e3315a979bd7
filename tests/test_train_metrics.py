import itertools
import math
import shutil

import numpy as np
import pytest

from vidmm.train.metrics import (
    caption_metrics,
    classification_metrics,
    normalize_answer,
    positive_ranks,
    qa_accuracy,
    rank_metrics,
    retrieval_metrics,
    tokenize,
)


def test_rank_metrics_by_hand():
    scores = np.array(
        [
            [0.9, 0.1, 0.5, 0.0],  # positive 0 scores highest: rank 1
            [0.2, 0.8, 0.3, 0.0],  # positive 2 (0.3) is below 0.8: rank 2
            [0.4, 0.6, 0.1, 0.5],  # positive 2 (0.1) is below 0.4, 0.6, 0.5: rank 4
        ]
    )
    m = rank_metrics(scores, np.array([0, 2, 2]))
    # ranks 1, 2, 4: one of three within 1, all within 5 and 10; median 2, mean 7/3
    assert m == pytest.approx({"R@1": 100 / 3, "R@5": 100.0, "R@10": 100.0, "MdR": 2.0, "MnR": 7 / 3})


def test_ties_rank_by_expectation():
    scores = np.array([[0.5, 0.5, 0.5, 0.1], [0.5, 0.5, 0.5, 0.1], [0.7, 0.5, 0.5, 0.9]])
    ranks = positive_ranks(scores, [0, {0, 1}, {1, 3}])
    # q0: positive tied with 2 negatives, random order puts it 1st, 2nd or 3rd: mean 2
    # q1: 2 positives and 1 negative tied: the negative precedes both with probability 1/3 -> 1 + 1/3
    # q2: the best positive (0.9) is alone at the top -> 1
    assert ranks == pytest.approx([2.0, 4 / 3, 1.0])
    # a model that scores everything alike gets the middle rank, not R@1 = 100
    assert rank_metrics(np.zeros((3, 5)), [0, 1, 2])["R@1"] == 0.0
    assert rank_metrics(np.zeros((3, 5)), [0, 1, 2])["MnR"] == 3.0


def _expected_rank_by_enumeration(scores_row, positives):
    """Average over every tie-breaking order (all permutations) of the first positive's position."""
    c = len(scores_row)
    total, count = 0.0, 0
    for perm in itertools.permutations(range(c)):
        order = sorted(range(c), key=lambda j: (-scores_row[j], perm[j]))
        total += next(i for i, j in enumerate(order, 1) if j in positives)
        count += 1
    return total / count


def test_tie_rule_matches_enumerating_every_tie_order():
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 3, size=(12, 6)).astype(float)  # few values: many ties
    positives = [set(rng.choice(6, size=rng.integers(1, 3), replace=False).tolist()) for _ in range(12)]
    expected = [_expected_rank_by_enumeration(s, p) for s, p in zip(scores, positives)]
    assert positive_ranks(scores, positives) == pytest.approx(expected)


def _clip4clip_metrics(x):
    """CLIP4Clip's compute_metrics (sort, find the diagonal's position), for tie-free scores."""
    sx = np.sort(-x, axis=1)
    ind = np.where(sx - np.diag(-x)[:, None] == 0)[1]
    return {"R@1": 100 * np.mean(ind == 0), "R@5": 100 * np.mean(ind < 5), "R@10": 100 * np.mean(ind < 10), "MdR": np.median(ind) + 1, "MnR": np.mean(ind) + 1}


def test_rank_metrics_agree_with_clip4clip_and_sklearn_on_float_scores():
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(1)
    sim = rng.normal(size=(50, 50)) + 2.0 * np.eye(50)
    assert rank_metrics(sim, np.arange(50)) == pytest.approx(_clip4clip_metrics(sim))
    for k in (1, 5, 10):
        ref = 100 * sklearn_metrics.top_k_accuracy_score(np.arange(50), sim, k=k, labels=np.arange(50))
        assert rank_metrics(sim, np.arange(50))[f"R@{k}"] == pytest.approx(ref)


def test_retrieval_metrics_both_directions_with_several_captions_per_video():
    # texts 0, 1 describe video 0; text 2 describes video 1
    sim = np.array(
        [
            [0.9, 0.2],  # t0 -> v0 ranks 1
            [0.1, 0.3],  # t1 -> v0 ranks 2
            [0.8, 0.4],  # t2 -> v1 ranks 2
        ]
    )
    m = retrieval_metrics(sim, [0, 0, 1])
    assert m["t2v"] == pytest.approx({"R@1": 100 / 3, "R@5": 100.0, "R@10": 100.0, "MdR": 2.0, "MnR": 5 / 3})
    # v0's column (0.9, 0.1, 0.8): its best text t0 is first -> rank 1
    # v1's column (0.2, 0.3, 0.4): its only text t2 is first -> rank 1
    assert m["v2t"] == pytest.approx({"R@1": 100.0, "R@5": 100.0, "R@10": 100.0, "MdR": 1.0, "MnR": 1.0})


def test_bad_positives_are_errors():
    with pytest.raises(ValueError, match="out of range"):
        rank_metrics(np.zeros((2, 3)), [0, 3])
    with pytest.raises(ValueError, match="out of range"):
        rank_metrics(np.zeros((2, 3)), [0, -1])
    with pytest.raises(ValueError, match="no correct candidate"):
        rank_metrics(np.zeros((2, 3)), [0, set()])
    with pytest.raises(ValueError, match="2 positives for 3 queries"):
        rank_metrics(np.zeros((3, 3)), [0, 1])
    with pytest.raises(ValueError, match="NaN"):
        rank_metrics(np.full((1, 2), np.nan), [0])
    with pytest.raises(ValueError, match="do not match"):
        retrieval_metrics(np.zeros((3, 2)), [0, 1])


def test_classification_by_hand():
    scores = np.array(
        [
            [0.7, 0.2, 0.1],  # label 0: top-1 hit
            [0.5, 0.3, 0.2],  # label 0: hit
            [0.1, 0.6, 0.3],  # label 2: ranked 2nd, miss
            [0.3, 0.3, 0.4],  # label 2: hit
        ]
    )
    m = classification_metrics(scores, [0, 0, 2, 2])
    # 3 of 4 top-1; top-5 is top-3 here (3 classes): all hit;
    # per class: class 0 2/2, class 2 1/2 -> mean 75; class 1 has no examples and is not averaged
    assert m == pytest.approx({"top1": 75.0, "top5": 100.0, "mean_class_acc": 75.0})
    skewed = classification_metrics(scores, [0, 0, 0, 2])  # class 0: 2/3 (row 2 misses), class 2: 1/1
    assert skewed["mean_class_acc"] == pytest.approx(100 * (2 / 3 + 1) / 2)


def test_classification_agrees_with_sklearn():
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(2)
    labels = rng.integers(0, 12, size=300)
    scores = rng.random((300, 12)) + 0.3 * np.eye(12)[labels]
    m = classification_metrics(scores, labels)
    all_labels = np.arange(12)
    assert m["top1"] == pytest.approx(100 * sklearn_metrics.top_k_accuracy_score(labels, scores, k=1, labels=all_labels))
    assert m["top5"] == pytest.approx(100 * sklearn_metrics.top_k_accuracy_score(labels, scores, k=5, labels=all_labels))
    assert m["mean_class_acc"] == pytest.approx(100 * sklearn_metrics.balanced_accuracy_score(labels, scores.argmax(1)))


def test_qa_accuracy_normalises_case_punctuation_articles_and_numbers():
    assert normalize_answer("  The Red-Car! ") == "red car"
    assert normalize_answer("Don't know") == "dont know"
    assert normalize_answer("two") == normalize_answer("2") == "2"
    assert normalize_answer("3.5 m.") == "3.5 m"
    assert normalize_answer("a<b_c") == "b c"
    predictions = ["A dog.", "left", "Three", "blue"]
    answers = ["dog", ["right", "to the left"], "3", "red"]
    # hit, miss ("left" vs "to left" / "right"), hit, miss -> 50 %
    assert qa_accuracy(predictions, answers) == 50.0
    assert qa_accuracy(["to the left"], [["right", "to the left"]]) == 100.0
    with pytest.raises(ValueError):
        qa_accuracy(["a"], [])


def test_tokenize_keeps_in_word_apostrophes_and_hyphens():
    assert tokenize("A man's Black-and-white dog, running!") == ["a", "man's", "black-and-white", "dog", "running"]


def test_bleu4_by_hand():
    candidates = ["a man is playing a guitar", "A dog runs."]
    references = [["a man is playing the guitar", "someone plays guitar"], ["a dog runs on the grass"]]
    # 1: clipped matches per n: 1-grams 5/6 ("a" twice, once in refs), 2-grams 3/5, 3-grams 2/4,
    #    4-grams 1/3; closest reference length 6 = candidate length
    # 2: 3/3, 2/2, 1/1, 0/0; candidate 3 words, reference 6
    # corpus: (8/9 * 5/7 * 3/5 * 1/3) ** (1/4), brevity penalty exp(1 - 12/9)
    expected = (8 / 9 * 5 / 7 * 3 / 5 * 1 / 3) ** 0.25 * math.exp(1 - 12 / 9)
    assert caption_metrics(candidates, references, meteor=False)["BLEU-4"] == pytest.approx(100 * expected)


def test_rouge_l_by_hand():
    # LCS("a man plays", "a man plays a guitar") = 3: P = 1, R = 3/5; F = (1 + 1.2²) P R / (R + 1.2² P)
    expected = (1 + 1.44) * 1 * 0.6 / (0.6 + 1.44 * 1)
    m = caption_metrics(["a man plays"], [["a man plays a guitar", "a bird"]], meteor=False)
    # the second reference has LCS 1 ("a"): P 1/3, R 1/2; the best P and best R are kept
    assert m["ROUGE-L"] == pytest.approx(100 * expected)


def test_cider_by_hand():
    candidates = ["red car", "blue bike"]
    references = [["red car now"], ["blue bike"]]
    # 2 videos; every n-gram occurs in one video's references: idf = log 2 - log 1 = log 2 for all.
    # video 1: unigrams cand (red, car) vs ref (red, car, now): cos = 2/(√2·√3); bigrams (red car) vs
    #   (red car, car now): 1/√2; no 3-, 4-grams: 0. Length penalty exp(-(2-3)²/(2·6²)).
    # video 2: identical: cos 1, 1, 0, 0.
    video1 = 10 * (2 / math.sqrt(6) + 1 / math.sqrt(2)) / 4 * math.exp(-1 / 72)
    video2 = 10 * (1 + 1) / 4
    assert caption_metrics(candidates, references, meteor=False)["CIDEr"] == pytest.approx(100 * (video1 + video2) / 2)


def test_caption_metrics_say_what_they_leave_out(monkeypatch):
    monkeypatch.setattr("vidmm.train.metrics.shutil.which", lambda name: None)
    m = caption_metrics(["a cat"], [["a cat"]])
    assert "METEOR" not in m and "SPICE" not in m
    assert "METEOR (needs java)" in m["note"] and "SPICE" in m["note"]
    with pytest.raises(RuntimeError, match="METEOR needs java"):
        caption_metrics(["a cat"], [["a cat"]], meteor=True)
    assert "METEOR (not asked for)" in caption_metrics(["a cat"], [["a cat"]], meteor=False)["note"]
    with pytest.raises(ValueError, match="non-empty reference"):
        caption_metrics(["a cat"], [["!!"]], meteor=False)


@pytest.mark.slow
def test_meteor_from_coco_caption_where_java_is_present():
    pytest.importorskip("pycocoevalcap.meteor.meteor")
    if shutil.which("java") is None:
        pytest.skip("no java")
    candidates = ["A man is playing a guitar.", "a dog runs"]
    references = [["a man is playing the guitar", "someone plays guitar"], ["a dog runs on the grass"]]
    m = caption_metrics(candidates, references)  # 10-20 s: the jar loads its paraphrase table
    # pycocoevalcap 1.2's Meteor().compute_score on these tokens, run once by hand: 0.39241892991857985
    assert m["METEOR"] == pytest.approx(39.241892991857985)
    assert "METEOR" not in m["note"]


def _random_captions(rng, n):
    """n videos; each caption is its video's base sentence with a few words replaced or dropped."""
    vocab = "a the man woman dog cat is are playing runs on in with red blue ball guitar street park".split()

    def variant(base):
        words = [rng.choice(vocab) if rng.random() < 0.2 else w for w in base if rng.random() > 0.1]
        return " ".join(words or base)

    bases = [list(rng.choice(vocab, size=rng.integers(4, 13))) for _ in range(n)]
    return [variant(b) for b in bases], [[variant(b) for _ in range(rng.integers(1, 6))] for b in bases]


def test_caption_metrics_agree_with_pycocoevalcap():
    bleu_mod = pytest.importorskip("pycocoevalcap.bleu.bleu")
    rouge_mod = pytest.importorskip("pycocoevalcap.rouge.rouge")
    cider_mod = pytest.importorskip("pycocoevalcap.cider.cider")
    rng = np.random.default_rng(3)
    worst = 0.0
    for trial in range(3):
        candidates, references = _random_captions(rng, 40)
        res = {i: [" ".join(tokenize(c))] for i, c in enumerate(candidates)}
        gts = {i: [" ".join(tokenize(r)) for r in rs] for i, rs in enumerate(references)}
        bleu, _ = bleu_mod.Bleu(4).compute_score(gts, res, verbose=0)
        rouge, _ = rouge_mod.Rouge().compute_score(gts, res)
        cider, _ = cider_mod.Cider().compute_score(gts, res)
        ours = caption_metrics(candidates, references, meteor=False)
        diffs = [abs(ours["BLEU-4"] - 100 * bleu[3]), abs(ours["ROUGE-L"] - 100 * rouge), abs(ours["CIDEr"] - 100 * cider)]
        worst = max(worst, *diffs)
    assert worst < 1e-6  # on the 0-100 scale; the reference's division guards add ~1e-9


def test_bleu4_without_any_4gram_match_is_zero_where_coco_caption_gives_a_tiny_number():
    bleu_mod = pytest.importorskip("pycocoevalcap.bleu.bleu")
    bleu, _ = bleu_mod.Bleu(4).compute_score({0: ["a dog runs on the grass"]}, {0: ["a dog runs"]}, verbose=0)
    assert caption_metrics(["a dog runs"], [["a dog runs on the grass"]], meteor=False)["BLEU-4"] == 0.0
    # coco-caption guards 0/0 as (0 + 1e-15) / (0 + 1e-9): p4 = 1e-6, and (1e-6) ** (1/4) is not small
    assert 100 * bleu[3] == pytest.approx(100 * (1 * 1 * 1 * 1e-6) ** 0.25 * math.exp(1 - 6 / 3))
