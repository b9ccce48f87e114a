"""Regenerates the quickstart's small task data (``python -m plugins.quickstart.generate``).

The data is templated and deterministic (seeded), built from a hand-written four-language
lexicon so that the quickstart needs nothing from the network or from ../shared:

* ``qs-nli``      English NLI (entailment / neutral / contradiction): the intermediate task.
* ``qs-paws``     paraphrase identification (same meaning, or one detail changed) with English
                  training data and evaluation in en, de, fr, es: a target task.
* ``qs-tatoeba``  parallel sentences (de/fr/es paired with English): a retrieval target.

It exists to show the mechanism end to end in minutes; its numbers say nothing about the study.
"""

from __future__ import annotations

import csv
import itertools
import random
from pathlib import Path

LANGS = ("en", "de", "fr", "es")
SUBJECTS = [  # en, de, fr, es
    ("the doctor", "der Arzt", "le médecin", "el médico"),
    ("the teacher", "die Lehrerin", "la professeure", "la maestra"),
    ("the farmer", "der Bauer", "le fermier", "el granjero"),
    ("the child", "das Kind", "l'enfant", "el niño"),
    ("the student", "die Studentin", "l'étudiante", "la estudiante"),
    ("my neighbour", "mein Nachbar", "mon voisin", "mi vecino"),
    ("the old man", "der alte Mann", "le vieil homme", "el anciano"),
    ("the baker", "der Bäcker", "le boulanger", "el panadero"),
]
VERBS = [  # (en finite, en base, en object), (de finite, object), (fr ...), (es ...)
    (("reads", "read", "a book"), ("liest", "ein Buch"), ("lit", "un livre"), ("lee", "un libro")),
    (("cooks", "cook", "dinner"), ("kocht", "das Abendessen"), ("prépare", "le dîner"), ("prepara", "la cena")),
    (("plays", "play", "football"), ("spielt", "Fußball"), ("joue", "au football"), ("juega", "al fútbol")),
    (("writes", "write", "a letter"), ("schreibt", "einen Brief"), ("écrit", "une lettre"), ("escribe", "una carta")),
    (("drinks", "drink", "coffee"), ("trinkt", "Kaffee"), ("boit", "du café"), ("bebe", "café")),
    (("paints", "paint", "a picture"), ("malt", "ein Bild"), ("peint", "un tableau"), ("pinta", "un cuadro")),
    (("sings", "sing", "a song"), ("singt", "ein Lied"), ("chante", "une chanson"), ("canta", "una canción")),
    (("buys", "buy", "bread"), ("kauft", "Brot"), ("achète", "du pain"), ("compra", "pan")),
]
PLACES = [
    ("in the park", "im Park", "dans le parc", "en el parque"),
    ("at home", "zu Hause", "à la maison", "en casa"),
    ("in the kitchen", "in der Küche", "dans la cuisine", "en la cocina"),
    ("in the garden", "im Garten", "dans le jardin", "en el jardín"),
    ("at school", "in der Schule", "à l'école", "en la escuela"),
    ("in the city", "in der Stadt", "en ville", "en la ciudad"),
]
TIMES = [
    ("in the morning", "am Morgen", "le matin", "por la mañana"),
    ("in the evening", "am Abend", "le soir", "por la noche"),
    ("on Sunday", "am Sonntag", "le dimanche", "el domingo"),
    ("every day", "jeden Tag", "chaque jour", "cada día"),
    ("at noon", "am Mittag", "à midi", "al mediodía"),
]


def cap(text: str) -> str:
    return text[0].upper() + text[1:]


def sentence(lang: str, s: int, v: int, p: int, t: int, fronted: bool = False) -> str:
    """One sentence; ``fronted`` moves the time phrase to the front (German inverts the verb)."""
    i = LANGS.index(lang)
    subj, place, time = SUBJECTS[s][i], PLACES[p][i], TIMES[t][i]
    finite, obj = (VERBS[v][0][0], VERBS[v][0][2]) if lang == "en" else VERBS[v][i]
    if lang == "de":
        return (
            cap(f"{time} {finite} {subj} {obj} {place}.") if fronted else cap(f"{subj} {finite} {time} {obj} {place}.")
        )
    if fronted:
        return cap(f"{time}, {subj} {finite} {obj} {place}.")
    return cap(f"{subj} {finite} {obj} {place} {time}.")


def combos(rng: random.Random) -> list[tuple[int, int, int, int]]:
    all_combos = list(itertools.product(range(len(SUBJECTS)), range(len(VERBS)), range(len(PLACES)), range(len(TIMES))))
    rng.shuffle(all_combos)
    return all_combos


def other(rng: random.Random, n: int, current: int) -> int:
    return rng.choice([i for i in range(n) if i != current])


def nli_pairs(rng: random.Random, items: list[tuple[int, int, int, int]]) -> list[tuple[str, str, str]]:
    rows = []
    for k, (s, v, p, t) in enumerate(items):
        en_subj, (finite, base, obj), place, time = SUBJECTS[s][0], VERBS[v][0], PLACES[p][0], TIMES[t][0]
        premise = sentence("en", s, v, p, t, fronted=rng.random() < 0.3)
        label = ("entailment", "neutral", "contradiction")[k % 3]
        if label == "entailment":
            hypothesis = rng.choice(
                [
                    f"{cap(en_subj)} {finite} {obj}.",
                    f"{cap(en_subj)} {finite} {obj} {place}.",
                    f"Someone {finite} {obj} {time}.",
                ]
            )
        elif label == "contradiction":
            hypothesis = rng.choice(
                [
                    f"{cap(en_subj)} does not {base} {obj}.",
                    f"{cap(en_subj)} never {finite} {obj}.",
                    f"Nobody {finite} {obj} {place}.",
                ]
            )
        else:
            premise = cap(f"{en_subj} {finite} {obj} {place}.")
            hypothesis = rng.choice(
                [
                    f"{cap(en_subj)} {finite} {obj} {place} {time}.",
                    f"{cap(SUBJECTS[other(rng, len(SUBJECTS), s)][0])} {finite} {obj} {place}.",
                    f"{cap(en_subj)} also {finite} {VERBS[other(rng, len(VERBS), v)][0][2]}.",
                ]
            )
        rows.append((premise, hypothesis, label))
    return rows


def paws_pairs(rng: random.Random, items: list[tuple[int, int, int, int]], lang: str) -> list[tuple[str, str, str]]:
    rows = []
    for k, (s, v, p, t) in enumerate(items):
        first = sentence(lang, s, v, p, t, fronted=False)
        if k % 2 == 0:  # paraphrase: same facts, other word order
            rows.append((first, sentence(lang, s, v, p, t, fronted=True), "1"))
            continue
        changed = [s, v, p, t]
        slot = rng.randrange(4)
        changed[slot] = other(rng, (len(SUBJECTS), len(VERBS), len(PLACES), len(TIMES))[slot], changed[slot])
        rows.append((first, sentence(lang, *changed, fronted=rng.random() < 0.5), "0"))
    return rows


def write_tsv(path: Path, rows: list[tuple[str, ...]]) -> None:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter="\t", quoting=csv.QUOTE_NONE, lineterminator="\n", escapechar="\\")
        writer.writerows(rows)


def main(out: Path = Path(__file__).parent / "data") -> None:
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(20200527)  # the study's arXiv date
    items = combos(rng)
    nli = nli_pairs(rng, items[:1200])
    write_tsv(out / "qs-nli-train.tsv", nli[:900])
    write_tsv(out / "qs-nli-dev.tsv", nli[900:])
    paws_items = combos(rng)
    write_tsv(out / "qs-paws-train-en.tsv", paws_pairs(rng, paws_items[:800], "en"))
    write_tsv(out / "qs-paws-dev-en.tsv", paws_pairs(rng, paws_items[800:1000], "en"))
    eval_items = paws_items[1000:1300]
    for lang in LANGS:
        write_tsv(out / f"qs-paws-test-{lang}.tsv", paws_pairs(random.Random(lang), eval_items, lang))
    tatoeba_items = combos(rng)[:200]
    for lang in LANGS[1:]:
        for side, code in ((lang, lang), ("en", "eng")):
            lines = [sentence(side, *item, fronted=False) for item in tatoeba_items]
            (out / f"qs-tatoeba.{lang}-eng.{code}").write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
