"""`benchmarks/twins.py`: unanswerable twins of questions, made with the shipped parser."""

from __future__ import annotations

import random
import sys
from pathlib import Path

import pytest

from qa.actors import parser

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
from twins import entity_pool, negated, opposed, twin  # noqa: E402

PARAGRAPH = "The Normans conquered England in 1066 under William the Conqueror, who was crowned at Westminster."


@pytest.fixture(scope="module")
def nlp():
    return parser()


def pool_of(nlp, questions: dict[str, str]):
    """An entity pool from one question per article."""
    return entity_pool(list(nlp.pipe(list(questions.values()))), list(questions))


def test_a_name_the_paragraph_holds_is_swapped_for_another_articles_name_it_does_not(nlp):
    pool = pool_of(nlp, {"a": "When did Barack Obama visit Germany?", "z": "Is Scotland north of England?"})
    made = twin(nlp("Where did the Normans land in England?"), PARAGRAPH, "z", pool, random.Random(0))
    assert made == "Where did the Normans land in Germany?"  # not Scotland: the same article


def test_a_year_moves_to_one_the_paragraph_does_not_hold(nlp):
    made = twin(nlp("Who conquered England in 1066?"), PARAGRAPH, "z", {}, random.Random(0))
    assert made is not None and made != "Who conquered England in 1066?"
    year = made.split()[-1].rstrip("?")
    assert year.isdigit() and year != "1066" and year not in PARAGRAPH


def test_a_word_becomes_its_antonym_the_paragraph_never_uses_before_any_swap(nlp):
    assert twin(nlp("Who was the first king crowned at Westminster?"), PARAGRAPH, "z", {}, random.Random(0)) == (
        "Who was the last king crowned at Westminster?"
    )
    assert (
        opposed(nlp("What did the army do after the battle?"), PARAGRAPH) == "What did the army do before the battle?"
    )
    assert opposed(nlp("After the war, who won?"), "Before the war and after it, France lost.") is None  # both used
    assert opposed(nlp("Largest city?"), "") == "Smallest city?"  # the word's capital kept
    assert opposed(nlp("Where is Beacon Fell County Park?"), "") is None  # a name's word is no antonym


def test_without_a_swappable_name_the_question_is_negated(nlp):
    assert twin(nlp("What was destroyed by the flood?"), PARAGRAPH, "z", {}, random.Random(0)) == (
        "What was not destroyed by the flood?"
    )
    assert negated(nlp("When did the army cross the river?")) == "When did the army not cross the river?"


def test_no_twin_for_a_negated_question_or_one_without_a_helped_verb(nlp):
    assert negated(nlp("Why did the army not cross the river?")) is None
    assert twin(nlp("What is the capital?"), PARAGRAPH, "z", {}, random.Random(0)) is None


def test_names_absent_from_the_paragraph_are_not_swapped(nlp):
    """A question naming what its paragraph does not is left to negation, never given a random swap."""
    pool = pool_of(nlp, {"a": "Did Barack Obama visit Germany?"})
    made = twin(nlp("Why was Angela Merkel elected in Paris?"), PARAGRAPH, "z", pool, random.Random(0))
    assert made == "Why was Angela Merkel not elected in Paris?"
