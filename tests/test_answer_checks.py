"""`qa.answer_checks`: which reader spans may be shown in bold, each check on its own."""

from __future__ import annotations

import pytest

from qa.answer_checks import asked, asked_noun, failed_checks, qualified


def checks(question: str, sentence: str, span: str) -> tuple[str, ...]:
    start = sentence.index(span)
    return failed_checks(question, sentence, start, start + len(span))


TARTUS = "Most of the dead were killed (35) in the Tartus bombing, with 48 wounded."
COAST = (
    "On May 23, the group detonated between seven and nine car and suicide bombs in the coastal cities of Jableh "
    "and Tartous, killing about 150 people and wounding more than 225."
)


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("How many were killed?", "count"),
        ("What percentage of the vote did she win?", "percent"),
        ("How much did the bridge cost?", "money"),
        ("How old was he?", "age"),
        ("How long did the siege last?", "duration"),
        ("When did the 1973 oil crisis begin?", "date"),
        ("In which year was it built?", "date"),
        ("Who ordered the bypass channel?", "person"),
        ("Who was Zahran Alloush?", "other"),  # asks what he was, not for a name
        ("Where was the treaty signed?", "place"),
        ("Why did the talks fail?", "other"),
    ],
)
def test_what_a_question_asks_for(question, kind):
    assert asked(question) == kind


def test_a_span_of_the_questions_own_words_is_no_answer_in_any_spelling():
    sentence = "Russia's naval base in Tartous was not hit."
    assert "own words" in checks("What is the name of the Russian base in Tartus?", sentence, "Tartous")
    assert "own words" in checks("What was hit in the attack?", "The attack hit the port.", "the")  # stop words only
    assert "own words" not in checks("Which port was hit?", "Bombs hit Tartous.", "Tartous")


def test_a_count_question_takes_the_figure_of_what_it_counts():
    assert checks("How many were killed?", TARTUS, "35") == ()
    assert checks("How many were killed?", TARTUS, "48") == ("measure",)  # 48 wounded
    assert checks("How many were wounded?", TARTUS, "48") == ()
    assert "measure" in checks("How many Russian soldiers are stationed at Tartus?", TARTUS, "48")  # casualties
    assert "measure" in checks("How many troops does ISIS have?", "ISIS has 8,000 fighters.", "8,000")
    assert "kind" in checks("How many were killed?", TARTUS, "Tartus bombing")


def test_a_count_is_never_a_date_a_year_an_age_an_ordinal_or_a_page():
    eels = "On the night of 17 October, 14,320 eels left Lake Varnö through the new channel."
    question = "How many eels left Lake Varnö in 2023?"
    assert "not a count" in checks(question, eels, "17")
    assert checks(question, eels, "14,320") == ()
    for sentence, span in [
        ("The dam was finished in 1998.", "1998"),
        ("She came 17th in the race.", "17"),
        ("A 17-year-old was arrested.", "17"),
        ("The figures are on page 12.", "12"),
    ]:
        assert "not a count" in checks("How many people were arrested?", sentence, span), sentence


def test_units_the_question_asks_for():
    revenue = "Daesh has annual revenues estimated at $500 million, selling oil at $20 a barrel."
    assert "unit" in checks("What price per barrel does Daesh get for its oil?", revenue, "$500 million")
    assert "unit" not in checks("What price per barrel does Daesh get for its oil?", revenue, "$20")
    share = "Turnout rose to 23 percent, from 19 in 2019."
    assert checks("What percentage of voters turned out?", share, "23") == ()  # its unit stands right after it
    assert checks("What percentage of voters turned out?", "About 400 voters came.", "400") == ("kind",)
    assert checks("How much did the bridge cost?", "The bridge cost $4 million.", "$4 million") == ()
    assert "kind" in checks("How much did the bridge cost?", "The bridge took 4 years.", "4 years")


def test_a_figure_for_several_places_together_is_not_one_places():
    assert "several places" in checks("How many people were killed in Jableh?", COAST, "about 150")
    assert checks("How many people were killed in Jableh and Tartous?", COAST, "about 150") == ()
    assert checks("How many people were killed in the Tartus bombing?", TARTUS, "35") == ()


def test_a_name_must_be_of_the_kind_the_question_names():
    latakia = (
        "Russia was more cautious about the bombings, which were carried out near its main airbase in Latakia and "
        "its naval base in Tartous."
    )
    assert asked_noun("What is the name of the Russian airbase near Latakia?") == "facility"
    assert asked_noun("Which State Department spokesman ruled it out?") == "person"  # "State" is a name here
    assert "kind" in checks("What is the name of the Russian airbase near Latakia?", latakia, "Tartous")
    bridge = "The bombings included a large blast at Tartus that damaged an important bridge."
    assert "kind" in checks("What is the name of the bridge damaged at Tartus?", bridge, "a large blast")
    toner = "“We’re not looking at joint operations,” said State Department spokesman Mark Toner."
    assert checks("Which State Department spokesman ruled out joint operations?", toner, "Mark Toner") == ()
    assert "kind" in checks("Which city was bombed?", toner, "Mark Toner")  # a person is no city


def test_a_bold_figure_keeps_its_qualifier():
    text = "Putin said at least 40 countries, and over $40 million, financed it; 12 more did not."
    assert text[qualified(text, text.index("40 c"), text.index(" countries")) :].startswith("at least 40 countries")
    assert text[qualified(text, text.index("$40"), text.index(" million")) :].startswith("over $40")
    assert qualified(text, text.index("12"), text.index(" more")) == text.index("12")  # nothing to keep
    assert qualified(text, text.index("Putin"), text.index(" said")) == 0


def test_a_span_across_a_line_is_two_things_not_one_answer():
    minutes = "## 3. Riverside car park\nCouncillor Brandt presented the parking survey."
    assert "line" in checks("Who led the survey?", minutes, "Riverside car park\nCouncillor Brandt")
    assert "line" not in checks("Who presented the parking survey?", minutes, "Councillor Brandt")


def test_a_span_that_says_what_it_is_answers_a_question_about_that_kind():
    sentence = "The US warplanes took off from Incirlik airbase in southern Turkey."
    assert "kind" not in checks("From which base did the jets take off?", sentence, "Incirlik airbase")
    assert "kind" in checks("Which general led the strike?", sentence, "Incirlik airbase")
