"""Mark the sentence(s) of a passage that best answer the question.

A first, lexical version: the sentence sharing the most distinct question
terms (stemmed, stop words removed) wins; ties go to the earlier sentence.
"""

from __future__ import annotations

from qa.chunking import split_sentences
from qa.index import tokenize


def highlight(question_terms: set[str], text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Document offsets of the best-matching sentence in ``text[start:end]``, or none."""
    best, best_score = None, 0
    for sentence in split_sentences(text, start, end):
        terms = set(tokenize([text[sentence.start : sentence.end]])[0])
        score = len(terms & question_terms)
        if score > best_score:
            best, best_score = (sentence.start, sentence.end), score
    return [best] if best else []
