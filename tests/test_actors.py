"""`qa.actors`: the role a "who" question asks for, and the names sentences give in it (spaCy's real parse)."""

from __future__ import annotations

import pytest

from qa import actors as actors_module
from qa.actors import RESPONSIBLE, Role, actors, named_actors, parse, role_asked
from qa.models import ModelError


@pytest.mark.parametrize(
    ("question", "role"),
    [
        ("Who carried out the bombings in Jableh and Tartous?", Role(RESPONSIBLE, "agent")),
        ("Which group claimed responsibility for the attacks?", Role(RESPONSIBLE, "agent")),
        ("Who is responsible for the bombings?", Role(RESPONSIBLE, "agent")),
        ("Who killed the militia leader?", Role("kill", "agent")),
        ("By whom was Alloush killed?", Role("kill", "agent")),
        ("Which militia leader was killed when Russia bombed the headquarters?", Role("kill", "patient")),
        ("Which State Department spokesman ruled out joint operations?", Role("rule out", "agent")),
        ("Who was Zahran Alloush?", None),  # who someone is: no act
        ("Where did Assad work as a surgeon?", None),
        ("How many were killed?", None),
    ],
)
def test_the_role_a_question_asks_for(question: str, role: Role | None):
    assert role_asked(parse([question])[0]) == role


def names(question: str, sentence: str) -> list[str]:
    return [a.name for a in named_actors(question, [sentence])[0]]


WHO_DID_IT = "Who carried out the bombings?"


def test_the_subject_of_the_same_act_is_named():
    assert names(WHO_DID_IT, "The leading rebel faction Ahrar al-Sham had carried out the bombings.") == [
        "Ahrar al-Sham"
    ]
    assert names(WHO_DID_IT, "The bombings were carried out by ISIS and Jabhat al-Nusra.") == [
        "ISIS",
        "Jabhat al-Nusra",
    ]


def test_owning_up_to_an_attack_answers_who_carried_it_out():
    assert names(WHO_DID_IT, "Islamic State claimed responsibility for bombs that killed nearly 150 people.") == [
        "Islamic State"
    ]
    assert names(WHO_DID_IT, "Daesh claimed responsibility for the wave of bombings in a communique.") == ["Daesh"]


def test_a_negated_or_pretended_act_names_no_one():
    assert names(WHO_DID_IT, "The regime responded by pretending that the Islamic State was not responsible.") == []
    assert names(WHO_DID_IT, "Ahrar al-Sham did not carry out the bombings.") == []


def test_another_act_or_role_names_no_one():
    assert names(WHO_DID_IT, "Vigilantes attacked a refugee camp, burning tents.") == []
    assert names(WHO_DID_IT, "Kremlin spokesman Dmitry Peskov said the bombings showed the need for talks.") == []
    killed = "Which militia leader was killed in the raid?"
    assert names(killed, "Russian jets killed Zahran Alloush in the raid.") == ["Zahran Alloush"]
    assert names(killed, "Zahran Alloush was killed by a Russian airstrike.") == ["Zahran Alloush"]


def test_only_names_are_actors():
    assert names(WHO_DID_IT, "The militant group carried out the bombings.") == []  # a description, no name
    assert names(WHO_DID_IT, "They carried out the bombings.") == []
    assert names(WHO_DID_IT, "Isis has carried out the bombings.") == ["Isis"]  # a name the tagger calls a noun


def test_an_actor_keeps_whom_the_sentence_attributes_it_to_and_its_offsets():
    sentence = "Instead, the Foreign Ministry claimed that the faction Ahrar al-Sham had carried out the bombings."
    (actor,) = named_actors(WHO_DID_IT, [sentence])[0]
    assert sentence[actor.start : actor.end] == actor.name == "Ahrar al-Sham"
    assert actor.attributed_to == "the Foreign Ministry"


def test_a_question_asking_no_role_names_no_one_in_any_sentence():
    assert named_actors("Who was Zahran Alloush?", ["Zahran Alloush led the Army of Islam.", "x"]) == [[], []]


def test_actors_read_a_parsed_sentence():
    (doc,) = parse(["Russia killed Zahran Alloush."])
    assert [a.name for a in actors(doc, Role("kill", "agent"))] == ["Russia"]
    assert [a.name for a in actors(doc, Role("kill", "patient"))] == ["Zahran Alloush"]


def test_a_missing_parser_is_a_model_error(monkeypatch):
    monkeypatch.setattr(actors_module, "PARSER_PACKAGE", "no_such_spacy_package")
    actors_module.parser.cache_clear()
    try:
        with pytest.raises(ModelError, match="no_such_spacy_package"):
            actors_module.parser()
    finally:
        monkeypatch.undo()
        actors_module.parser.cache_clear()
