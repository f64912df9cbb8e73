"""Score an engine on a gold question set in the format of ``shared/eval/seed_dev.jsonl``.

A passage is a hit when it comes from a listed document and its span covers at
least half of an evidence string's span, wherever that string stands in the
document (white space normalised on both sides).  hit@k and MRR are over the
answerable questions, whatever ``answered`` says; abstentions are counted apart.
"""

from __future__ import annotations

import json
import re
import string
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from qa.answer import Answer
from qa.engine import Engine

NO_ANSWER_TYPES = ("unanswerable", "off-topic")


@dataclass
class GoldQuestion:
    id: str
    question: str
    docs: list[str]
    evidence: list[str]
    type: str

    @property
    def answerable(self) -> bool:
        return self.type not in NO_ANSWER_TYPES


@dataclass
class Report:
    """Per-question outcomes and the metrics over them."""

    k: int
    rank: dict[str, int] = field(default_factory=dict)  # question id -> 1-based rank of first hit, 0 if none
    answered: dict[str, bool] = field(default_factory=dict)
    types: dict[str, str] = field(default_factory=dict)
    verbatim_violations: int = 0

    def metrics(self) -> dict[str, float | str]:
        answerable = [q for q, t in self.types.items() if t not in NO_ANSWER_TYPES]
        n = max(1, len(answerable))

        def abstained(kind: str) -> str:
            ids = [q for q, t in self.types.items() if t == kind]
            return f"{sum(not self.answered[q] for q in ids)}/{len(ids)}"

        return {
            "questions": len(self.types),
            "hit@1": sum(self.rank[q] == 1 for q in answerable) / n,
            f"hit@{self.k}": sum(0 < self.rank[q] <= self.k for q in answerable) / n,
            "MRR": sum(1 / self.rank[q] for q in answerable if self.rank[q]) / n,
            "off-topic abstained": abstained("off-topic"),
            "unanswerable abstained": abstained("unanswerable"),
            "false abstentions": f"{sum(not self.answered[q] for q in answerable)}/{len(answerable)}",
            "verbatim violations": self.verbatim_violations,
        }

    def missed(self) -> list[str]:
        """Answerable questions with no hit in the top k."""
        return [q for q, t in self.types.items() if t not in NO_ANSWER_TYPES and not self.rank[q]]


def read_gold(path: str | Path) -> list[GoldQuestion]:
    """The questions of a gold file, one JSON object a line; a line that is not one is a `ValueError` naming it."""
    rows = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            d = json.loads(line)
            docs = d.get("doc") or []
            rows.append(
                GoldQuestion(
                    d["id"],
                    d["question"],
                    [docs] if isinstance(docs, str) else docs,
                    d.get("evidence") or [],
                    d["type"],
                )
            )
        except (ValueError, KeyError, AttributeError) as exc:
            raise ValueError(f"{path}, line {number}: not a gold question ({type(exc).__name__}: {exc})") from None
    return rows


def evidence_spans(text: str, evidence: str) -> list[tuple[int, int]]:
    """Every place ``evidence`` stands in ``text``, any run of white space matching any other."""
    words = evidence.split()
    if not words:
        return []
    pattern = r"\s+".join(re.escape(w) for w in words)
    return [m.span() for m in re.finditer(pattern, text)]


def gold_spans(gold: GoldQuestion, texts: dict[str, str]) -> list[tuple[str, int, int]]:
    """``(doc_id, start, end)`` of every place an evidence string of ``gold`` stands in its documents."""
    return [
        (doc, s, e)
        for doc in gold.docs
        if doc in texts
        for ev in gold.evidence
        for s, e in evidence_spans(texts[doc], ev)
    ]


def covers(doc_id: str, start: int, end: int, span: tuple[str, int, int], share: float = 0.5) -> bool:
    """Whether ``doc_id[start:end]`` holds at least ``share`` of an evidence ``span`` (the rule of every score here).

    Half by default: a passage that holds half the evidence sentence holds
    the fact; the ranker's training asks the same of the seed set, and the
    whole answer (``share=1``) of SQuAD's short answers.
    """
    span_doc, span_start, span_end = span
    covered = min(end, span_end) - max(start, span_start)
    return doc_id == span_doc and covered > 0 and covered >= (span_end - span_start) * share


def first_hit(answer: Answer, gold: GoldQuestion, texts: dict[str, str]) -> int:
    """1-based rank of the first passage that covers half an evidence span, else 0."""
    spans = gold_spans(gold, texts)
    for rank, p in enumerate(answer.passages, 1):
        if any(covers(p.doc_id, p.start, p.end, span) for span in spans):
            return rank
    return 0


def evaluate(engine: Engine, gold_path: str | Path, k: int = 5) -> Report:
    """Ask every gold question and score the answers."""
    report = Report(k)
    texts = {d: engine.document(d).text for d in engine.documents}
    for gold in read_gold(gold_path):
        answer = engine.ask(gold.question, k=k)
        report.types[gold.id] = gold.type
        report.answered[gold.id] = answer.answered
        report.rank[gold.id] = first_hit(answer, gold, texts)
        report.verbatim_violations += sum(texts[p.doc_id][p.start : p.end] != p.text for p in answer.passages)
    return report


_PUNCTUATION = set(string.punctuation)


def answer_tokens(text: str) -> list[str]:
    """SQuAD's answer normalisation: lower case, no punctuation, no articles, split on white space."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return re.sub(r"\b(a|an|the)\b", " ", text).split()


def answer_f1(prediction: str, gold: str) -> float:
    """SQuAD's token F1 of a predicted answer against one gold answer."""
    p, g = answer_tokens(prediction), answer_tokens(gold)
    common = sum((Counter(p) & Counter(g)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(p), common / len(g)
    return 2 * precision * recall / (precision + recall)
