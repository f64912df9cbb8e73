"""How well `qa.actors` names who did what a question asks, on SQuAD dev's "who" questions.

"Sources differ" for names shows the actors that sentences of different
outlets give; a wrong actor there is a false disagreement, so what matters
most is how often a name it gives is the answer (precision). Each question
that asks who (`qa.disagreement.asks_who`) is read against the sentence of
its paragraph that holds its answer (spaCy's sentences), beside the shipped
reader's exact answer in the same sentence; then against every sentence of
its paragraph, as the engine reads every close sentence of its passages
(names from sentences that do not hold the answer are most of the risk).
Names are scored with SQuAD's token F1 against the gold answers. Nothing here is fitted.

    python benchmarks/names.py [--limit 5696]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.datasets import EVAL, read_jsonl, squad_questions  # noqa: E402
from qa.actors import named_actors, parse, role_asked  # noqa: E402
from qa.disagreement import asks_who  # noqa: E402
from qa.evaluation import answer_f1  # noqa: E402
from qa.reader import shipped_reader  # noqa: E402

RIGHT = 0.5  # token F1 at which a name counts as the answer


def sentences(paragraph: str) -> list[tuple[int, int, str]]:
    """The paragraph's sentences (spaCy's), each with its offsets."""
    return [(s.start_char, s.end_char, s.text) for s in parse([paragraph])[0].sents]


def best_f1(name: str, answers: list[str]) -> float:
    return max(answer_f1(name, a) for a in answers)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=None, help="questions of SQuAD dev read, in file order")
    args = ap.parse_args()
    texts = {f"{r['id']}.txt": r["text"] for r in read_jsonl(EVAL / "squad" / "contexts.jsonl")}
    who = [q for q in squad_questions()[: args.limit] if asks_who(q.question)]
    reader = shipped_reader()
    asked = named = right = any_right = reader_right = 0
    paragraph_names = paragraph_right = 0
    for q in who:
        split = sentences(texts[q.doc_id])
        at = next((n for n, (start, end, _) in enumerate(split) if start <= q.starts[0] < end), None)
        role = role_asked(parse([q.question])[0])
        if at is None or role is None or role.part != "agent":  # `named_actors` names doers only
            continue
        asked += 1
        found = named_actors(q.question, [text for _, _, text in split])
        every = [a for names in found for a in names]
        paragraph_names += len(every)
        paragraph_right += sum(best_f1(a.name, q.answers) >= RIGHT for a in every)
        sentence, actors = split[at][2], found[at]
        if not actors:
            continue
        named += 1
        scores = [best_f1(a.name, q.answers) for a in actors]
        right += scores[0] >= RIGHT
        any_right += max(scores) >= RIGHT
        reading = reader.read(q.question, [sentence])[0] if reader is not None else None
        if reading is not None and reading.span is not None:
            reader_right += best_f1(sentence[slice(*reading.span)], q.answers) >= RIGHT
    print(f"SQuAD dev questions asking who: {len(who)}; an agent of an act read in the question: {asked}")
    print("| measure | value |\n| --- | --- |")
    print(f"| answer sentences that name an actor in that role | {named} of {asked} ({named / max(asked, 1):.1%}) |")
    print(f"| first name given is the answer (F1 >= {RIGHT}) | {right / max(named, 1):.1%} |")
    print(f"| some name given is the answer | {any_right / max(named, 1):.1%} |")
    print(f"| the reader's exact answer in the same sentences is the answer | {reader_right / max(named, 1):.1%} |")
    share = paragraph_right / max(paragraph_names, 1)
    print(f"| names given by every sentence of the paragraphs / of them the answer | {paragraph_names} / {share:.1%} |")


if __name__ == "__main__":
    main()
