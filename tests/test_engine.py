"""Engine.ask and Engine.search with the fake embedder: input checks, ordering, verbatim passages."""

from __future__ import annotations

import pytest

import qa
from qa.retrieval import overlap


@pytest.mark.parametrize("question", ["", "   ", "\n\t "])
def test_empty_question_is_a_value_error(tiny_engine: qa.Engine, question):
    with pytest.raises(ValueError, match="question is empty"):
        tiny_engine.ask(question)


@pytest.mark.parametrize("question", [None, 42, b"quokka", ["quokka"]])
def test_a_question_that_is_no_text_is_a_type_error(tiny_engine: qa.Engine, question):
    with pytest.raises(TypeError, match="question must be a str"):
        tiny_engine.ask(question)
    with pytest.raises(TypeError, match="question must be a str"):
        tiny_engine.search(question)


def test_question_length_is_limited_and_the_limit_is_said(tiny_engine: qa.Engine):
    assert tiny_engine.ask("quokka " + "a" * 1993).passages  # 2,000 characters
    with pytest.raises(ValueError, match="2,001 characters long; the limit is 2,000") as refused:
        tiny_engine.ask("q" * 2001)
    assert "qqqq" not in str(refused.value)  # never echoed back
    assert len(tiny_engine.ask("  " + "quokka " * 285 + "  ").question) <= 2000  # white space does not count


@pytest.mark.parametrize("question", ["12345", "quokka", "Etna?", "2020"])
def test_numbers_and_single_words_are_questions(tiny_engine: qa.Engine, question):
    assert tiny_engine.ask(question).question == question


@pytest.mark.parametrize("k", [1.5, 2.0, "3", True, False, None])
def test_k_must_be_an_int(tiny_engine: qa.Engine, k):
    with pytest.raises(TypeError, match="k must be an int from 1 to 50"):
        tiny_engine.ask("quokka", k=k)


@pytest.mark.parametrize("k", [0, -1, 51, 10_000])
def test_k_must_be_from_1_to_50(tiny_engine: qa.Engine, k):
    with pytest.raises(ValueError, match=f"k must be an int from 1 to 50, not {k}"):
        tiny_engine.ask("quokka", k=k)


@pytest.mark.parametrize("n", [0, 10_001, 2.5, True])
def test_search_depth_is_checked(tiny_engine: qa.Engine, n):
    with pytest.raises((TypeError, ValueError), match="n must be an int from 1 to 10000"):
        tiny_engine.search("quokka", n=n)


def test_unknown_document_is_a_key_error(tiny_engine: qa.Engine):
    with pytest.raises(KeyError, match="nope"):
        tiny_engine.document("nope")
    assert tiny_engine.document("sub/gamma.md").title == "Baking Notes"
    assert tiny_engine.documents == ["alpha.txt", "beta.txt", "sub/gamma.md"]


def check_answer(engine: qa.Engine, answer: qa.Answer, k: int) -> None:
    assert isinstance(answer.answered, bool)
    assert 0.0 <= answer.confidence <= 1.0
    assert len(answer.passages) <= k
    scores = [p.score for p in answer.passages]
    assert scores == sorted(scores, reverse=True), "best first"
    for p in answer.passages:
        doc = engine.document(p.doc_id)
        assert doc.text[p.start : p.end] == p.text
        assert p.text == p.text.strip() and p.text
        segment = doc.segment_at(p.start)
        assert segment is not None and p.end <= segment.end
        assert (p.section, p.source) == (segment.section, segment.source)
        assert p.title == (segment.headline or doc.title)
        assert all(p.start <= s < e <= p.end for s, e in p.highlights)
        lines_before = [line for line in doc.text[: p.start].split("\n")[:-1] if line.strip()]
        assert p.paragraph == len(lines_before) + 1
    for i, a in enumerate(answer.passages):
        for b in answer.passages[i + 1 :]:
            ca = qa.Chunk(a.doc_id, a.start, a.end, a.section)
            cb = qa.Chunk(b.doc_id, b.start, b.end, b.section)
            assert overlap(ca, cb) <= engine.settings.max_overlap


@pytest.mark.parametrize("k", [1, 2, 3, 5, 50])
def test_passages_are_at_most_k_best_first_and_verbatim(tiny_engine: qa.Engine, k: int):
    for question in ["How many quokkas did rangers count?", "Etna lava airport", "sourdough starter", "bread"]:
        answer = tiny_engine.ask(question, k=k)
        check_answer(tiny_engine, answer, k)
        assert answer.passages
        assert answer.question == question


def test_k_larger_than_the_index_returns_every_distinct_chunk(tiny_engine: qa.Engine):
    answer = tiny_engine.ask("quokka", k=50)
    assert 0 < len(answer.passages) <= len(tiny_engine.store)


def test_a_unique_word_finds_its_document(tiny_engine: qa.Engine):
    answer = tiny_engine.ask("Fagradalsfjall earthquakes", k=3)
    top = answer.passages[0]
    assert top.doc_id == "beta.txt"
    assert "Fagradalsfjall" in top.text
    assert (top.source, top.title) == ("Nordic Herald", "Iceland unrest grows")
    assert tiny_engine.reading(None).ask("Fagradalsfjall earthquakes", k=3).answered  # the reader sees no question
    assert top.highlights and "Fagradalsfjall" in tiny_engine.document("beta.txt").text[slice(*top.highlights[0])]


def test_comments_are_found_and_labelled(tiny_engine: qa.Engine):
    answer = tiny_engine.ask("Please do not feed them bread", k=2)
    top = answer.passages[0]
    assert top.text == "Please do not feed them bread."
    assert top.section == "comment"
    assert "reader comment" in top.citation()


def test_question_surrounding_white_space_is_stripped(tiny_engine: qa.Engine):
    assert tiny_engine.ask("  sourdough starter \n").question == "sourdough starter"


def test_question_without_words_is_not_answered(tiny_engine: qa.Engine):
    answer = tiny_engine.ask("?!")
    assert answer.answered is False
    check_answer(tiny_engine, answer, 5)


def test_search_ranks_candidates_best_first(tiny_engine: qa.Engine):
    candidates = tiny_engine.search("quokka island", n=4)
    assert 0 < len(candidates) <= 4
    scores = [c.score for c in candidates]
    assert scores == sorted(scores, reverse=True)
    assert len({c.chunk_id for c in candidates}) == len(candidates)
    with pytest.raises(ValueError, match="empty"):
        tiny_engine.search("  ")


@pytest.mark.parametrize("stage", ["dense", "lexical", "fused"])
def test_every_stage_gives_verbatim_passages(tiny_corpus, tmp_path, hash_embedder, stage):
    qa.build(tiny_corpus, tmp_path / "index", embedder=hash_embedder)
    index = qa.load(tmp_path / "index", embedder=hash_embedder, strict=True).index
    engine = qa.Engine(index, qa.RetrievalSettings(stage=stage))
    check_answer(engine, engine.ask("How many quokkas did rangers count?", k=3), 3)


# --- the default corpus with the fake embedder -------------------------------------------


def test_roundup_passage_title_is_the_piece_headline(hash_engine: qa.Engine):
    answer = hash_engine.ask("Jableh Tartous killing about 150 people wounding more than 225", k=5)
    check_answer(hash_engine, answer, 5)
    insider = [p for p in answer.passages if p.source == "Business Insider"]
    assert insider, [p.source for p in answer.passages]
    assert insider[0].title.startswith("ISIS strikes in Assad territory")
    assert insider[0].doc_id == "001_fb5d5de520412f3a.txt"


def test_reuters_piece_is_cited_as_reuters(hash_engine: qa.Engine):
    answer = hash_engine.ask("State Department spokesman Mark Toner joint operations", k=5)
    assert any(p.source == "Reuters" and "Mark Toner" in p.text for p in answer.passages)


@pytest.mark.parametrize(
    "question",
    [
        "Where did Bashar al-Assad work as a surgeon?",
        "Who is Juan Cole?",
        "Related video Ruptly",
        "Comments are closed",
        "What do you think?",
    ],
)
def test_default_corpus_answers_are_verbatim(hash_engine: qa.Engine, question: str):
    for k in (1, 5, 10, 50):
        check_answer(hash_engine, hash_engine.ask(question, k=k), k)


def test_page_furniture_never_comes_back(hash_engine: qa.Engine):
    answer = hash_engine.ask("Comments are closed What do you think 24 Points Upvote Downvote", k=20)
    for p in answer.passages:
        assert "Comments are closed" not in p.text
        assert "Upvote Downvote" not in p.text


def test_a_staged_engine_shares_the_snapshot_and_ranks_with_its_own_settings(tiny_engine):
    fused = tiny_engine.staged(qa.RetrievalSettings(stage="fused"))
    assert fused.index is tiny_engine.index and fused.featurizer is tiny_engine.featurizer
    assert fused.ranker is None and fused.settings.stage == "fused"
    question = "How many quokkas did rangers count?"
    assert [c.chunk_id for c in fused.search(question, 5)] == [
        c.chunk_id for c in qa.Engine(tiny_engine.index, qa.RetrievalSettings(stage="fused")).search(question, 5)
    ]


def test_names_that_differ_between_outlets_are_shown_side_by_side(tmp_path, hash_embedder):
    from dataclasses import replace

    from tests.conftest import write_corpus

    corpus = write_corpus(
        tmp_path / "corpus",
        {
            "a.txt": "Harbour report\nBy Ann Lee | (Coast Times)\nRed Brigade attacked the harbour at dawn.\n",
            "b.txt": "Harbour attack\nBy Bob Ray | (Bay Herald)\nPolice said that Blue League attacked the harbour.\n",
        },
    )
    engine = qa.build(corpus, tmp_path / "index", embedder=hash_embedder).reading(None)  # names need no reader
    engine = engine.staged(replace(engine.settings, statement_similarity=0.0), engine.ranker)
    question = "Who attacked the harbour?"
    answer = engine.ask(question)
    assert answer.answered, answer.confidence
    (found,) = answer.disagreements
    assert found.kind == "name" and sorted(found.names()) == ["Blue League", "Red Brigade"]
    by_name = {c.figure: c for c in found.claims}
    assert by_name["Red Brigade"].source == "Coast Times" and by_name["Red Brigade"].attributed_to is None
    assert by_name["Blue League"].source == "Bay Herald" and by_name["Blue League"].attributed_to == "Police"
    for claim in found.claims:  # the claim points at the sentence that names it
        assert claim.figure in engine.document(answer.passages[claim.passage].doc_id).text[claim.start : claim.end]
    off = engine.staged(replace(engine.settings, name_disagreements=False), engine.ranker)
    assert off.ask(question).disagreements == []
    assert engine.ask("Who was Red Brigade?").disagreements == []  # asks what someone is, not who did it


def test_without_the_parser_the_answer_stands_without_names(tmp_path, hash_embedder, monkeypatch, caplog):
    from qa import actors
    from tests.conftest import write_corpus

    corpus = write_corpus(tmp_path / "corpus", {"a.txt": "Harbour report\n\nRed Brigade attacked the harbour.\n"})
    engine = qa.build(corpus, tmp_path / "index", embedder=hash_embedder).reading(None)
    monkeypatch.setattr(actors, "PARSER_PACKAGE", "no_such_spacy_package")
    actors._load.cache_clear()
    try:
        answer = engine.ask("Who attacked the harbour?")
    finally:
        monkeypatch.undo()
        actors._load.cache_clear()
    assert answer.passages and answer.disagreements == []
    assert "names are not compared" in caplog.text and "no_such_spacy_package" in caplog.text
