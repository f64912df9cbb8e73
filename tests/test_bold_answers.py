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

