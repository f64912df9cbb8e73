"""Follow-ups: a question leaning on the one before is read with its subject; one standing alone is not changed."""

from __future__ import annotations

import pytest

from qa.followup import read_in_context

TARTUS = "How many people were killed in the Tartus bombing?"

# (earlier question, follow-up, words the reading must hold besides the follow-up's own)
FOLLOW_UPS = [
    (TARTUS, "And how many were wounded?", ["Tartus", "bombing"]),
    (TARTUS, "What about Jableh?", ["Jableh", "killed", "bombing"]),
    (TARTUS, "And in Jableh?", ["Jableh", "killed"]),
    ("Who was Zahran Alloush?", "How was he killed?", ["Zahran Alloush"]),
    ("Who was Zahran Alloush?", "Who replaced him?", ["Zahran Alloush"]),
    ("When did pro-Assad forces retake Palmyra from ISIS?", "Who helped them?", ["Palmyra"]),
    ("In which mosque was the ISIS caliphate proclaimed?", "When?", ["ISIS caliphate"]),
    ("How many people lived in Aleppo before the war?", "And now?", ["Aleppo"]),
    ("How many additional US troops did Obama say were being sent to Syria?", "Why?", ["Obama", "Syria"]),
    ("Which State Department spokesman ruled out joint operations with Russia?", "What did he say?", ["State"]),
    ("How many ISIS militants are holed up in the Yarmouk Basin?", "Who made that estimate?", ["Yarmouk Basin"]),
    ("How much money does Daesh take in each year?", "Where does it come from?", ["Daesh"]),
    ("Who was Zahran Alloush?", "Which militia did the man lead?", ["Zahran Alloush"]),  # a noun, not a pronoun
    (TARTUS, "How many people were wounded in the city?", ["Tartus"]),
    ("What did the Army of Islam say about the talks?", "Who leads the group?", ["Army of Islam"]),
]

STANDING_ALONE = [
    (TARTUS, "What's a good vegetarian substitute for ground beef in lasagna?"),
    (TARTUS, "Which British-based monitoring group said that the coastal attacks were unprecedented?"),
    (TARTUS, "How did Daesh take credit for the wave of six attacks?"),
    (TARTUS, "Did Putin say he would help?"),  # "he" is Putin
    ("Who was Zahran Alloush?", "Where did Bashar al-Assad work as a surgeon before politics?"),
    (TARTUS, "How many people live in the city of Aleppo?"),  # "the city" that it names itself
    (TARTUS, "What is the tallest building in the world?"),  # "the" before a noun of no named kind
]


@pytest.mark.parametrize(("earlier", "question", "expected"), FOLLOW_UPS)
def test_a_follow_up_is_read_with_what_it_refers_to(earlier, question, expected):
    reading = read_in_context(question, [earlier])
    assert reading.carried, f"nothing carried into {question!r}"
    for words in expected:
        assert words in reading.text, f"{words!r} not in {reading.text!r}"


@pytest.mark.parametrize(("earlier", "question"), STANDING_ALONE)
def test_a_question_that_stands_alone_is_not_changed(earlier, question):
    assert read_in_context(question, [earlier]).text == question
    assert read_in_context(question, [earlier]).carried is None


def test_without_history_nothing_is_carried():
    assert read_in_context("And how many were wounded?", []).text == "And how many were wounded?"


def test_a_chain_of_follow_ups_keeps_its_subject():
    reading = read_in_context("And how many were wounded?", [TARTUS, "What about Jableh?"])
    assert "Jableh" in reading.text and "Tartus" not in reading.text


def test_a_name_replaces_the_earlier_name_not_the_question():
    reading = read_in_context("What about Jableh?", [TARTUS])
    assert reading.text == "How many people were killed in the Jableh bombing?"


# --- through the engine, on the default corpus -------------------------------------------


def test_the_engine_answers_a_follow_up_from_its_subject_and_says_how_it_read_it(real_engine):
    answer = real_engine.ask("What about Jableh?", history=[TARTUS])
    assert answer.question == "What about Jableh?"
    assert answer.context == "How many people were killed in the Jableh bombing?"
    assert any("Jableh" in p.text for p in answer.passages[:3])
    assert answer.to_markdown().startswith("*Read as: How many people were killed in the Jableh bombing?*")
    wounded = real_engine.ask("And how many were wounded?", history=[TARTUS])
    assert wounded.context == "And how many were wounded? Tartus bombing"
    assert any("Tartus" in p.text for p in wounded.passages[:3])


def test_the_man_of_a_follow_up_is_the_earlier_questions_subject(real_engine):
    alone = real_engine.ask("Which militia did the man lead?")
    answer = real_engine.ask("Which militia did the man lead?", history=["Who was Zahran Alloush?"])
    assert answer.context == "Which militia did the man lead? Zahran Alloush" and alone.context is None
    assert "Alloush" in answer.passages[0].text and "Alloush" not in alone.passages[0].text


def test_history_does_not_change_a_question_that_stands_alone(real_engine):
    question = "Which State Department spokesman ruled out joint US-Russian military operations in Syria?"
    assert real_engine.ask(question, history=[TARTUS]).to_dict() == real_engine.ask(question).to_dict()


@pytest.mark.parametrize("history", ["How many were killed?", [TARTUS, 3], 7])
def test_history_must_be_a_list_of_questions(real_engine, history):
    with pytest.raises(TypeError, match="history must be a list"):
        real_engine.ask("And how many were wounded?", history=history)


def test_the_chat_passes_its_own_earlier_questions_with_the_answers_they_got():
    from qa.ui import earlier_turns

    history = [
        {"role": "user", "content": TARTUS},
        {"role": "assistant", "content": '<p class="qa-exact-answer">Answer: <strong>35 &amp; more</strong> (passage'},
        {"role": "user", "content": [{"type": "text", "text": "What about Jableh?"}]},
        {"role": "assistant", "content": "> **1.** passage"},
        {"role": "user", "content": "   "},
        "not a message",
    ]
    assert earlier_turns(history) == [(TARTUS, "35 & more"), ("What about Jableh?", None)]
    assert earlier_turns(None) == []


def test_the_city_after_which_city_is_the_city_the_answer_named(real_engine):
    port = "Which port city hosts Moscow's navy in Syria?"
    first = real_engine.ask(port)
    assert first.passages[0].answer_text == "Tartus"
    for history in ([first], [(port, "Tartus")]):
        answer = real_engine.ask("How many people were killed in the city?", history=history)
        assert answer.context == "How many people were killed in the city? Tartus"
    assert "Moscow" in real_engine.ask("How many people were killed in the city?", history=[port]).context  # no answer
    man = real_engine.ask("Which militia did the man lead?", history=[real_engine.ask("Who was Zahran Alloush?")])
    assert "Zahran Alloush" in man.context  # "who was" asks for no kind of thing: the subject carries
