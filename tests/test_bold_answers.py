"""Nothing wrong in bold: on the default corpus, the cases a first user met, through `Engine.ask`."""

from __future__ import annotations

import pytest


def bold(engine, question: str, history=None) -> str | None:
    answer = engine.ask(question, history=history)
    return answer.passages[0].answer_text if answer.answered and answer.passages else None


@pytest.mark.parametrize(
    ("question", "not_bold"),
    [
        ("How many were killed?", "48"),  # "with 48 wounded"
        ("How many Russian soldiers are stationed at Tartus?", "48"),  # the corpus does not say
        ("What is the name of the Russian airbase near Latakia?", "Tartous"),  # a city is no airbase
        ("What is the name of the bridge damaged at Tartus?", "a large blast"),  # no name at all
        ("Which general commands the Russian forces in Syria?", "Hmeymim"),  # a place is no general
        ("Which Reuters journalists reported the story on Washington ruling out joint strikes?", "Mark Toner"),
        ("How many people did ISIL's bombings kill, according to Informed Comment?", "120"),  # another outlet's
    ],
)
def test_a_wrong_kind_of_answer_is_not_bold(real_engine, question, not_bold):
    assert not_bold not in (bold(real_engine, question) or "")


def test_where_sources_differ_on_the_asked_figure_none_is_picked(real_engine):
    answer = real_engine.ask("How many were wounded?")
    (disagreement,) = answer.disagreements
    assert {200, 225} <= set(disagreement.values()) and 48 not in disagreement.values()  # 48: Tartus alone
    assert all(p.answer is None for p in answer.passages)
    assert "Answer:" not in answer.to_text()


def test_right_answers_stay_bold(real_engine):
    assert bold(real_engine, "Which State Department spokesman ruled out joint US-Russian military operations?") == (
        "Mark Toner"
    )
    assert bold(real_engine, "How many people were killed in the Tartus bombing?") == "35"
    assert bold(real_engine, "How many people lived in Aleppo before the war?") == "4 million"


class FirstFigureReader:
    """A fake reader: each passage's answer is its first figure, with the margin given for it (in the order read)."""

    record = {"weights_sha256": "f16e" * 16}

    def __init__(self, margins: dict[str, float]):
        self.margins = margins  # by the figure it marks

    def read(self, question, passages):
        import re

        from qa.reader import Reading

        out = []
        for text in passages:
            m = re.search(r"\d+", text)
            out.append(Reading(m.span(), 5.0, self.margins[m.group()]) if m else Reading(None, 0.0, -9.0))
        return out


FLOOD = {
    "riverton-gazette.txt": "Flood in Riverton\n\nBy A. Writer | (Riverton Gazette)\n\n"
    "The flood in Riverton killed 40 people on Monday, the Gazette counted.\n",
    "valley-news.txt": "Riverton flood\n\nBy B. Writer | (Valley News)\n\n"
    "The flood in Riverton killed 55 people, officials said on Monday.\n",
}


@pytest.mark.parametrize(
    ("margins", "differ"),
    [
        ({"40": 3.0, "55": 2.0}, True),  # both passages answer with their figure: the sources differ
        ({"40": -4.0, "55": -5.0}, True),  # the reader answers in neither: the figures the sentences state
        ({"40": 3.0, "55": -5.0}, False),  # it answers in one only: the other is no rival
        ({"40": -5.0, "55": 3.0}, False),
    ],
)
def test_a_passage_the_reader_finds_no_answer_in_is_no_rival_of_one_it_answers_from(
    margins, differ, tmp_path, hash_embedder
):
    import dataclasses

    import qa
    from tests.conftest import write_corpus

    engine = qa.build(write_corpus(tmp_path / "corpus", FLOOD), tmp_path / "index", embedder=hash_embedder)
    engine = engine.staged(dataclasses.replace(engine.settings, reader_weight=0.0), engine.ranker)
    answer = engine.reading(FirstFigureReader(margins)).ask("How many people did the flood in Riverton kill?", k=2)
    assert answer.answered and len(answer.passages) == 2
    assert bool(answer.disagreements) == differ
    if differ:
        assert answer.disagreements[0].values() == [40, 55]


@pytest.mark.parametrize("margins", [{"40": 3.0, "55": 2.0}, {"40": -4.0, "55": -5.0}])
def test_rival_figures_come_only_from_sentences_close_enough_to_the_question(margins, tmp_path, hash_embedder):
    import dataclasses

    import qa
    from tests.conftest import write_corpus

    engine = qa.build(write_corpus(tmp_path / "corpus", FLOOD), tmp_path / "index", embedder=hash_embedder)
    question = "How many people did the flood in Riverton kill?"
    for floor, differ in ((0.0, True), (0.999, False)):  # a floor above every sentence leaves nothing to compare
        settings = dataclasses.replace(engine.settings, reader_weight=0.0, measured_similarity=floor)
        answer = engine.staged(settings, engine.ranker).reading(FirstFigureReader(margins)).ask(question, k=2)
        assert bool(answer.disagreements) == differ, floor
