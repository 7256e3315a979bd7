"""Write the WordNet hierarchy over the ImageNet-1k classes that lite's concept bank reads.

    apt-get install wordnet-base          # Debian's WordNet 3.0, the version ImageNet's ids index
    python scripts/make_concept_hierarchy.py
        -> vidmm/models/data/imagenet_hierarchy.json

ImageNet's classes are WordNet 3.0 noun synsets (``n02099601`` is the synset at offset 02099601 of
``data.noun``). For each of the 1,000 classes, in class order, the file keeps its own lemmas and
gloss and the ids of every hypernym up to the root; for each hypernym, its lemmas. That is what
lets a query name a class by a more general word ("a dog" covers the 120 breeds) or a synonym
("a house cat" for "tabby"). The database is Princeton's, under the WordNet 3.0 licence, whose
notice the file carries.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOTICE = (
    "Derived from WordNet 3.0 (Debian package wordnet-base). WordNet 3.0 Copyright 2006 by Princeton "
    "University. All rights reserved. THIS SOFTWARE AND DATABASE IS PROVIDED \"AS IS\" AND PRINCETON "
    "UNIVERSITY MAKES NO REPRESENTATIONS OR WARRANTIES, EXPRESS OR IMPLIED. Permission to use, copy, "
    "modify and distribute this database for any purpose and without fee or royalty is granted with "
    "this notice. See https://wordnet.princeton.edu/license-and-commercial-use"
)


def read_nouns(path: Path) -> dict[str, tuple[list[str], list[str], str]]:
    """offset -> (lemmas, hypernym offsets, gloss) for every noun synset in a WordNet data.noun."""
    synsets = {}
    for line in path.read_text(encoding="latin-1").splitlines():
        if line.startswith(" "):  # the licence header
            continue
        head, _, gloss = line.partition(" | ")
        fields = head.split()
        offset, n_words = fields[0], int(fields[3], 16)
        lemmas = [fields[4 + 2 * i].replace("_", " ") for i in range(n_words)]
        at = 4 + 2 * n_words
        n_pointers = int(fields[at])
        pointers = [fields[at + 1 + 4 * i : at + 5 + 4 * i] for i in range(n_pointers)]
        hypernyms = [target for symbol, target, pos, _ in pointers if symbol in ("@", "@i") and pos == "n"]
        synsets[offset] = (lemmas, hypernyms, gloss.strip())
    return synsets


def ancestors(offset: str, synsets: dict) -> list[str]:
    """Every hypernym of a synset up to the root, nearest first (a synset may have several parents)."""
    seen: list[str] = []
    frontier = list(synsets[offset][1])
    while frontier:
        parent = frontier.pop(0)
        if parent not in seen:
            seen.append(parent)
            frontier += synsets[parent][1]
    return seen


def main(argv: list[str] | None = None) -> Path:
    import timm

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--wordnet", type=Path, default=Path("/usr/share/wordnet/data.noun"))
    parser.add_argument("--out", type=Path, default=ROOT / "vidmm" / "models" / "data" / "imagenet_hierarchy.json")
    args = parser.parse_args(argv)
    synsets = read_nouns(args.wordnet)
    wnids = (Path(timm.__file__).parent / "data" / "_info" / "imagenet_synsets.txt").read_text().split()
    assert len(wnids) == 1000, len(wnids)
    classes, used = [], {}
    for wnid in wnids:
        offset = wnid[1:]
        lemmas, _, gloss = synsets[offset]
        up = ancestors(offset, synsets)
        classes.append({"wnid": wnid, "lemmas": lemmas, "gloss": gloss, "ancestors": [f"n{a}" for a in up]})
        used.update({f"n{a}": synsets[a][0] for a in up})
    data = {"notice": NOTICE, "classes": classes, "synsets": dict(sorted(used.items()))}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(data, separators=(",", ":")) + "\n")
    print(f"{args.out}: {len(classes)} classes, {len(used)} hypernym synsets")
    return args.out


if __name__ == "__main__":
    main()
