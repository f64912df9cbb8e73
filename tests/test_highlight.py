"""The highlight: the passage sentence covering the largest (IDF-weighted) share of the question."""

from __future__ import annotations

from qa.chunking import split_sentences
from qa.highlight import RELATED_ALONE, coverage, highlight, holding, score_sentences, sentence_terms
from qa.index import tokenize

TEXT = (
    "Before the passage. The cat sat on the mat. "
    "Mark Toner spoke for the State Department on Monday. Dogs bark at night. After the passage."
)
START = TEXT.index("The cat")
END = TEXT.index(" After the passage.")


def weights(question: str, **overrides: float) -> dict[str, float]:
    """Every question term weighted 1 (so the score counts shared terms), unless overridden."""
    w = {t: 1.0 for t in tokenize([question])[0]}
    w.update(overrides)
    return w


def sentence_spans(text: str, start: int, end: int) -> list[tuple[int, int]]:
    return [(s.start, s.end) for s in split_sentences(text, start, end)]


def best(question_weights: dict[str, float], text: str = TEXT, start: int = START, end: int = END):
    return highlight(question_weights, sentence_terms(text, sentence_spans(text, start, end)))


def test_sentence_with_most_question_terms_is_highlighted():
    spans = best(weights("Which State Department spokesman spoke on Monday?"))
    assert len(spans) == 1
    start, end = spans[0]
    assert START <= start < end <= END
    assert TEXT[start:end] == "Mark Toner spoke for the State Department on Monday."


def test_no_matching_term_gives_no_highlight():
    assert best(weights("volcanic eruptions in Iceland")) == []
    assert best({}) == []


def test_ties_go_to_the_earlier_sentence():
    text = "Cats purr softly. Dogs purr never. Cats again."
    assert best(weights("purr"), text, 0, len(text)) == [(0, len("Cats purr softly."))]


def test_sentences_outside_the_passage_are_never_highlighted():
    assert best(weights("before after passage")) == []


def test_terms_are_stemmed_like_the_index():
    assert [TEXT[s:e] for s, e in best(weights("barking dogs"))] == ["Dogs bark at night."]


def test_a_rare_term_outweighs_common_ones():
    text = "Syria and Russia met. Alloush was killed."
    question = weights("Syria Russia Alloush", alloush=5.0)
    assert [text[s:e] for s, e in best(question, text, 0, len(text))] == ["Alloush was killed."]


def test_related_words_can_outweigh_a_shared_common_term():
    sentences = sentence_terms(TEXT, sentence_spans(TEXT, START, END))
    question = weights("mat spokesman")  # "mat" stands in the first sentence, nothing of the question in the second
    assert best(question) == [(START, START + len("The cat sat on the mat."))]
    marked = highlight(question, sentences, related=[0.3, 0.9, 0.1])  # "spokesman" ~ "spoke"
    assert [TEXT[s:e] for s, e in marked] == ["Mark Toner spoke for the State Department on Monday."]


def test_related_words_alone_mark_a_sentence_only_when_close_enough():
    sentences = sentence_terms(TEXT, sentence_spans(TEXT, START, END))
    question = weights("volcanic eruptions")
    assert highlight(question, sentences, related=[0.2, 0.3, 0.25]) == []  # the noise of unrelated words
    assert highlight(question, sentences, related=[0.2, 0.3, RELATED_ALONE]) == [(sentences[2].start, sentences[2].end)]


def test_sentence_terms_are_the_passage_sentences_in_order():
    sentences = sentence_terms(TEXT, sentence_spans(TEXT, START, END))
    assert [TEXT[s.start : s.end] for s in sentences] == [
        "The cat sat on the mat.",
        "Mark Toner spoke for the State Department on Monday.",
        "Dogs bark at night.",
    ]
    assert "toner" in sentences[1].terms


def test_scores_are_shares_in_zero_one_best_first():
    scored = score_sentences(weights("Mark Toner cat"), sentence_terms(TEXT, sentence_spans(TEXT, START, END)))
    assert [round(s.score, 3) for s in scored] == [0.667, 0.333, 0.0]
    assert coverage(weights("a b"), set()) == 0.0
    assert coverage({}, {"x"}) == 0.0


def test_the_sentence_holding_the_exact_answer_is_the_highlight():
    sentences = sentence_terms(TEXT, sentence_spans(TEXT, START, END))
    toner = TEXT.index("Mark Toner"), TEXT.index("Mark Toner") + len("Mark Toner")
    ((start, end),) = holding(toner, sentences)
    assert TEXT[start:end].startswith("Mark Toner spoke") and start <= toner[0] and toner[1] <= end


def test_an_answer_across_a_sentence_boundary_marks_both_sentences():
    sentences = sentence_terms(TEXT, sentence_spans(TEXT, START, END))
    across = TEXT.index("mat."), TEXT.index("Toner")
    assert [TEXT[s:e].split()[0] for s, e in holding(across, sentences)] == ["The", "Mark"]
    assert holding((0, len("Before")), sentences) == []  # outside the passage's sentences
