"""The answer-quality layer: learned ranker, calibrated confidence, highlights, "sources differ"."""

from __future__ import annotations

import numpy as np
import pytest

import qa
from qa.answer_type import answer_type_present, question_kind
from qa.confidence import CONFIDENCE_FILE, Calibrator
from qa.disagreement import (
    Claim,
    Disagreement,
    Statement,
    asks_who,
    attribution,
    counted_terms,
    figure_measure,
    find_disagreement,
    find_name_disagreement,
    first_figure,
    name_words,
    place_lists,
    question_measure,
)
from qa.evidence import Candidate, Signals
from qa.ranker import (
    FEATURES,
    GAPS,
    LIST_FEATURES,
    RANKER_FILE,
    SIGNAL_FEATURES,
    ChunkCache,
    Ranker,
    longest_run,
    soft_coverages,
)

DEATH_TOLL = "What was the death toll from the May 2016 ISIS bombings in Jableh and Tartous?"


def test_shipped_ranker_matches_its_training_record():
    ranker = Ranker.load(RANKER_FILE)
    assert tuple(ranker.features) == FEATURES
    assert ranker.training["sha256"] == ranker.fingerprint()
    assert "train_ranker.py" in ranker.training["command"]
    assert set(ranker.training["data"]) == {"squad/questions_dev.jsonl", "seed_dev.jsonl"}  # never SciFact


@pytest.mark.parametrize("reader", [False, True])
def test_shipped_calibrators_never_saw_scifact_and_record_every_data_set_they_did(reader):
    from qa.confidence import CONFIDENCE_FILE, READER_CONFIDENCE_FILE, Calibrator

    record = Calibrator.load(READER_CONFIDENCE_FILE if reader else CONFIDENCE_FILE).training
    seen = {"squad/questions_dev.jsonl", "seed_dev.jsonl", "squad/train_questions.jsonl.gz"}
    assert set(record["data"]) == seen | ({"squad/questions_v2_dev.jsonl"} if reader else set())
    assert not any("scifact" in name.lower() for name in [*record["data"], *record["examples"]])
    assert "off-topic-wiki" in record["examples"]  # off-topic text of the same kind as the answerable questions


def test_shipped_calibrator_loads_with_a_threshold():
    calibrator = Calibrator.load(CONFIDENCE_FILE)
    assert 0.0 < calibrator.threshold < 1.0
    assert "train_confidence.py" in calibrator.training["command"]


def test_ranker_refuses_a_file_for_other_features(tmp_path):
    ranker = Ranker.load(RANKER_FILE)
    ranker.features = ranker.features[:-1]
    ranker.save(tmp_path / "r.json")
    with pytest.raises(ValueError, match="features"):
        Ranker.load(tmp_path / "r.json")


@pytest.mark.parametrize(
    "sentence, figure, value",
    [
        ("On May 23, the group detonated bombs, killing about 150 and wounding more than 225.", "about 150", 150),
        ("with at least 120 people killed according to local monitoring groups.", "at least 120", 120),
        ("US F-16 fighter-bombers bombed rebels; 250 troops had been deployed.", "250", 250),
        ("Aleppo had a population of 4 million and was Syria’s largest city.", "4 million", 4_000_000),
        ("In 2015 the war went on.", None, None),
        ("The blast, over 150 km from Damascus, killed 20 people.", "20", 20),  # never "over 15" of "150 km"
        ("Some 40 percent of the 3,000 fighters left.", "3,000", 3000),
    ],
)
def test_first_figure_skips_dates_years_and_model_numbers(sentence, figure, value):
    found = first_figure(sentence)
    assert (found == (figure, value)) if figure else found is None


def test_attribution_reads_according_to_and_said():
    assert attribution("with at least 120 people killed according to local monitoring groups.") == (
        "local monitoring groups"
    )
    assert attribution("State media has confirmed the attacks but gave a lower death toll of 78.") == "State media"
    assert attribution("The bombings hit two cities.") is None
    regime = "Instead, both Prime Minister Wael al-Halqi and the Foreign Ministry claimed that the faction did it."
    assert attribution(regime) == "the Foreign Ministry"
    assert attribution("Isis has claimed a series of bomb attacks.") is None


def said(*sentences: str, similarity: float = 1.0) -> list[Statement]:
    """Statements of passages 0, 1, 2… (outlets A, B, C…), one sentence each."""
    return [Statement(n, "ABCDEFG"[n], 10 * n, 10 * n + 5, s, similarity) for n, s in enumerate(sentences)]


def test_disagreement_needs_two_different_figures():
    same = said("killing about 150 people", "that killed nearly 150 people")
    differ = said("killing about 150 people", "that killed nearly 150 people", "gave a lower death toll of 78")
    assert find_disagreement(same, counted=counted_terms(DEATH_TOLL)) is None
    assert find_disagreement(differ, counted=counted_terms(DEATH_TOLL)).values() == [78, 150]


@pytest.mark.parametrize(
    "sentence, measures",
    [
        ("Most of the dead were killed (35) in the Tartus bombing, with 48 wounded.", ["killed", "wounded"]),
        ("bombs in Jableh and Tartous, killing about 150 people and wounding more than 225.", ["killed", "wounded"]),
        ("with at least 120 people killed according to local monitoring groups", ["killed"]),
        ("State media gave a lower death toll of 78.", ["killed"]),
        ("35 dead and 48 injured", ["killed", "wounded"]),
        ("ISIS still has 8,000 to 11,000 fighters", [None, None]),
    ],
)
def test_each_figure_counts_the_killed_or_the_wounded_nearest_it(sentence, measures):
    from qa.disagreement import figures

    assert [figure_measure(sentence, m.start(), m.end()) for m, _ in figures(sentence)] == measures


def test_a_question_counts_the_killed_or_the_wounded():
    assert question_measure("How many people were killed in the Tartus bombing?") == "killed"
    assert question_measure(DEATH_TOLL) == "killed"
    assert question_measure("And how many were wounded? Tartus bombing") == "wounded"
    assert question_measure("How many fighters does ISIS still have?") is None


def test_killed_is_never_compared_with_wounded():
    statements = said("Most of the dead were killed (35) in Tartus, with 48 wounded.", "killing 150 and wounding 225")
    assert find_disagreement(statements, measure="killed").values() == [35, 150]
    assert find_disagreement(statements, measure="wounded").values() == [48, 225]
    assert find_disagreement(said("with 48 wounded", "killing 150 people"), measure="wounded") is None


def test_a_figure_for_part_of_the_event_is_no_rival_figure():
    assert place_lists("in the coastal cities of Jableh and Tartous, killing about 150") == [{"jblh", "trts"}]
    assert place_lists("were killed (35) in the Tartus bombing") == [{"trts"}]  # Tartus, Tartous: one outline
    statements = said(
        "Most of the dead were killed (35) in the Tartus bombing.",
        "bombs in the coastal cities of Jableh and Tartous, killing about 150 people",
        "with at least 120 people killed in Syria according to local monitoring groups",
    )
    found = find_disagreement(statements, measure="killed")
    assert found.values() == [120, 150]  # Tartus alone is a part of the two cities' toll
    assert {c.source: c.attributed_to for c in found.claims} == {"B": None, "C": "local monitoring groups"}


def test_naming_more_places_in_other_lists_is_no_part_of_the_event():
    statements = said(
        "About 150 people were killed in Tartus.", "At least 120 were killed in Tartus in a wave of ISIS attacks."
    )
    assert find_disagreement(statements, measure="killed").values() == [120, 150]


def test_a_question_counts_what_it_names_first():
    assert question_measure("How many people were injured in the bombing that killed the governor?") == "wounded"


def test_only_sentences_near_the_closest_one_are_compared():
    close = said("killing about 150 people", "with at least 120 people killed")
    far = close + [Statement(2, "C", 40, 45, "that killed 12 people", 0.5)]
    assert find_disagreement(far, measure="killed", margin=0.2).values() == [120, 150]
    assert find_disagreement(far, measure="killed").values() == [12, 120, 150]


@pytest.mark.parametrize(
    "question, kind",
    [
        ("How many people lived in Aleppo?", "count"),
        (DEATH_TOLL, "count"),
        ("And how many were wounded?", "count"),
        ("How long did the siege last?", "count"),
        ("What percentage of the vote did he get?", "count"),
        ("When was Alloush killed?", "date"),  # "killed" asks for no figure
        ("In which year did the war start?", "date"),
        ("Which militia leader was killed when Russia bombed the headquarters?", "name"),  # "when" inside
        ("Who was killed in the strike?", "name"),
        ("Where did Assad work as a surgeon?", "name"),
        ("Why did they bomb Tartous?", "other"),
        ("Casualties in Tartus", "other"),
    ],
)
def test_one_question_kind_for_every_stage(question, kind):
    assert question_kind(question) == kind


def test_sources_differ_only_for_questions_asking_for_a_count(real_engine):
    """The same passages give figures; a "when" or "why" question is not about them."""
    for question in ("When were Jableh and Tartous bombed?", "Why did ISIS bomb Jableh and Tartous?"):
        assert real_engine.ask(question).disagreements == []


def test_figures_of_other_things_are_not_compared():
    troops = "How many additional US troops did Obama say were being sent to Syria?"
    statements = said(
        "Obama announced that 250 troops had been deployed.",
        "ISIS still has 8,000 to 11,000 fighters scattered across Syria.",
    )
    assert find_disagreement(statements, counted=counted_terms(troops)) is None  # fighters are not troops
    statements += [Statement(2, "C", 40, 50, "Officials said 300 troops would follow.")]
    assert find_disagreement(statements, counted=counted_terms(troops)).values() == [250, 300]
    casualties = said("with at least 120 people killed", "killing about 150 and more")
    killed = counted_terms("How many people were killed in the bombings?")
    assert find_disagreement(casualties, counted=killed).values() == [120, 150]


def test_coastal_bombing_death_toll_shows_sources_side_by_side(real_engine):
    answer = real_engine.ask(DEATH_TOLL, k=5)
    assert answer.answered
    (disagreement,) = answer.disagreements
    values = set(disagreement.values())
    assert {150, 78} <= values and len(values) >= 2
    by_value = {c.value: c for c in disagreement.claims}
    assert by_value[78].attributed_to == "State media"
    for claim in disagreement.claims:
        passage = answer.passages[claim.passage]
        assert passage.section != "boilerplate"  # not a related video's caption
        assert passage.start <= claim.start < claim.end <= passage.end
        assert claim.source == passage.source
    markdown = answer.to_markdown()
    assert "**Sources differ:**" in markdown and "State media" in markdown
    assert all(p.answer is None for p in answer.passages) and "**Answer:**" not in markdown  # no one figure picked


def test_a_question_about_one_place_gets_that_places_figure_and_no_totals_as_rivals(real_engine):
    tartus = "How many people were killed in the Tartus bombing?"
    answer = real_engine.ask(tartus, k=5)
    assert answer.passages[0].answer_text == "35"  # "killed (35) in the Tartus bombing"
    for d in answer.disagreements:  # the tolls of Jableh and Tartous together are no rivals of Tartus's own
        assert not {120, 150} & set(d.values())
    wounded = real_engine.ask("And how many were wounded?", history=[tartus])
    for d in wounded.disagreements:  # never a death toll beside a count of the wounded
        assert not {35, 120, 150} & set(d.values())
    jableh = real_engine.ask("What about Jableh?", history=[tartus])
    top = jableh.passages[0]
    assert top.answer is None, "about 150 is the toll of Jableh and Tartous together, not Jableh's"
    assert any("Jableh and Tartous" in top.text[a - top.start : b - top.start] for a, b in top.highlights)


@pytest.mark.parametrize(
    ("sentence", "count"),
    [
        ("on the night of 17 October, eels left the lake", None),  # a day before its month
        ("the 17th attack killed 5", "5"),  # an ordinal
        ("a 17-year-old and 40 others were killed", "40"),  # an age
        ("aged 17, he led 300 fighters", "300"),
        ("see page 12 for the 48 wounded", "48"),  # a page
        ("In 2023, 14,320 eels left the lake", "14,320"),  # a year
        ("over 200 died on 17 May", "over 200"),
    ],
)
def test_a_count_is_not_part_of_a_date_an_ordinal_an_age_or_a_page(sentence, count):
    assert (first_figure(sentence) or (None,))[0] == count


def test_one_source_never_differs_from_itself_but_documents_without_outlets_do():
    field_report = [  # one uploaded report, no outlet: a passage set against itself (17 is the night of 17 October)
        Statement(0, None, 0, 40, "In 2023, 14,320 eels left Lake Varnö", 1.0, None, "report.pdf"),
        Statement(0, None, 50, 90, "on the night of 17 October, eels left the lake", 1.0, None, "report.pdf"),
    ]
    assert find_disagreement(field_report) is None
    second = Statement(1, None, 0, 40, "In 2023, 12,900 eels left Lake Varnö", 1.0, None, "survey.pdf")
    found = find_disagreement([field_report[0], second])
    assert found is not None and found.values() == [12900, 14320]  # two documents: two sources
    roundup = [  # one page, two outlets' pieces: rivals
        Statement(0, "Reuters", 0, 40, "the bombings killed 120 people", 1.0, None, "roundup.txt"),
        Statement(1, "Business Insider", 50, 90, "the bombings killed about 150 people", 1.0, None, "roundup.txt"),
    ]
    assert find_disagreement(roundup, measure="killed").values() == [120, 150]


def test_a_figure_without_an_outlet_is_named_by_its_documents_title():
    passages = [qa.Passage("report.pdf", 0, 10, "a" * 10, 1.0, "Eel survey", None, "article"),
                qa.Passage("survey.pdf", 0, 10, "b" * 10, 1.0, "survey", "Fisheries Weekly", "article")]  # fmt: skip
    claims = [Claim(0, "14,320", 14320, None, None, 0, 10), Claim(1, "12,900", 12900, "Fisheries Weekly", None, 0, 10)]
    answer = qa.Answer("How many eels?", True, passages, 0.9, [Disagreement(claims)])
    assert "14,320: Eel survey (passage 1)" in answer.to_text() and "unnamed" not in answer.to_text()
    assert r"Fisheries Weekly \(passage 2\)" in answer.to_markdown()  # Markdown-escaped


def test_a_single_figure_is_no_disagreement(real_engine):
    assert real_engine.ask("How many additional US troops did Obama say were being sent to Syria?").disagreements == []


def test_who_carried_out_the_coastal_bombings_shows_the_outlets_names_side_by_side(real_engine):
    answer = real_engine.ask("Who is responsible for the bombings on Syria's coast?", k=5)
    assert answer.answered
    (disagreement,) = answer.disagreements
    assert disagreement.kind == "name"
    by_name = {c.figure: c for c in disagreement.claims}
    assert "Ahrar al-Sham" in by_name and len(by_name) == 2  # and one name for Islamic State / Isis / Daesh
    (isis,) = set(by_name) - {"Ahrar al-Sham"}
    assert isis in {"Islamic State", "Isis", "ISIS", "Daesh", "IS"}
    assert "Foreign Ministry" in by_name["Ahrar al-Sham"].attributed_to  # the regime's claim, not a report
    assert by_name["Ahrar al-Sham"].source != by_name[isis].source
    for claim in disagreement.claims:
        passage = answer.passages[claim.passage]
        assert passage.section == "article" and passage.start <= claim.start < claim.end <= passage.end
        assert claim.figure in real_engine.document(passage.doc_id).text[claim.start : claim.end]
    markdown = answer.to_markdown()
    assert "**Sources differ:**" in markdown and "**Ahrar al\\-Sham**" in markdown


@pytest.mark.parametrize(
    "question",
    [
        "Who attacked the refugee camp?",
        "Who reopened the trunk road to West Aleppo?",
        "Who detonated the bombs in Jableh?",
        "Who carried out the bombings in Jableh and Tartous?",  # Isis and Islamic State: one group, two outlets
    ],
)
def test_one_actor_is_no_disagreement(real_engine, question):
    from qa.actors import named_actors

    answer = real_engine.ask(question)
    found = named_actors(question, [p.text for p in answer.passages])
    assert any(found), "the passages name who did it"
    assert answer.disagreements == []


@pytest.mark.parametrize(
    "question",
    [
        "Why did ISIS go after a major bridge near Tartus?",
        "Which militia leader was killed when Russia bombed the Army of Islam's headquarters?",
        "How did angry locals lash out after the Jableh and Tartous bombings?",
    ],
)
def test_every_highlight_is_a_sentence_inside_its_passage(real_engine, question):
    answer = real_engine.ask(question, k=5)
    assert answer.passages[0].highlights  # the top passage has its answering sentence marked
    for p in answer.passages:
        text = real_engine.document(p.doc_id).text
        for start, end in p.highlights:
            assert p.start <= start < end <= p.end
            assert text[start:end] == text[start:end].strip()


@pytest.mark.parametrize(
    "question", ["How long should I boil an egg?", "What's a good vegetarian substitute for ground beef in lasagna?"]
)
def test_off_topic_questions_abstain_with_low_confidence(real_engine, question):
    answer = real_engine.ask(question)
    assert not answer.answered
    assert answer.confidence < real_engine.calibrator.threshold


@pytest.mark.parametrize(
    "question",
    [
        "How many displaced people were living in the refugee camp that vigilantes attacked after the coastal "
        "bombings?",
        "How many people were killed in the Daesh attack in Qamishli?",
    ],
)
def test_on_topic_questions_the_corpus_does_not_answer_abstain(real_engine, question):
    """The corpus is about these (the camp attack, the Qamishli attack) but gives neither figure: the reader says so."""
    answer = real_engine.ask(question)
    assert answer.reader is not None  # decided with the reader's evidence
    assert not answer.answered
    assert answer.confidence < real_engine.calibrator.threshold


def test_answerable_question_is_confident(real_engine):
    answer = real_engine.ask("Which State Department spokesman ruled out joint US-Russian military operations?")
    assert answer.answered and answer.confidence >= real_engine.calibrator.threshold


@pytest.mark.parametrize(
    "question, sentences, expected",
    [
        ("How many people died in Qamishli?", ["Another attack took place in the city of Qamishli."], 0.0),
        ("How many people died in Tartus?", ["The Tartus bombing killed 35."], 1.0),
        ("When did they retake Palmyra?", ["They retook it in late March."], 1.0),
        ("When did they retake Palmyra?", ["They retook Palmyra."], 0.0),
        ("Who replaced Alloush?", ["Alloush is not irreplaceable; someone is getting a promotion."], 0.0),
        ("Who led the Army of Islam?", ["It was led by Zahran Alloush."], 1.0),
        ("Why did the talks fail?", ["Anything at all."], 1.0),
        ("What was the name of the reporter?", ["The reporter obtained the files."], 0.0),
        ("What was the name of the reporter?", ["Stuart Ramsay obtained the files."], 1.0),
        ("In which mosque was it proclaimed?", ["In the mosque it was proclaimed."], 0.0),
        ("In which mosque was it proclaimed?", ["In the Great Mosque of al-Nuri it was proclaimed."], 1.0),
    ],
)
def test_answer_type_present(question, sentences, expected):
    assert answer_type_present(question_kind(question), question, sentences) == expected


def test_ranked_stage_reorders_only_the_top_candidates(real_engine):
    fused = qa.Engine(real_engine.index, qa.RetrievalSettings(stage="fused")).search(DEATH_TOLL, 60)
    ranked = real_engine.search(DEATH_TOLL, 60)
    depth = real_engine.settings.rerank_depth
    assert {c.chunk_id for c in ranked[:depth]} == {c.chunk_id for c in fused[:depth]}
    assert [c.chunk_id for c in ranked[depth:]] == [c.chunk_id for c in fused[depth:]]
    assert all(a.score >= b.score for a, b in zip(ranked, ranked[1:], strict=False))


def test_longest_run_counts_question_words_in_order():
    words = ["which", "team", "won", "the", "super", "bowl"]
    assert longest_run(words, "The Broncos won the Super Bowl in 2016.") == 4 / 6  # "won the super bowl"
    assert longest_run(words, "Bowl super the won.") == 1 / 6  # the same words, out of order
    assert longest_run([], "anything") == 0.0


def test_soft_coverages_credit_each_word_with_its_closest_word_in_each_sentence():
    axes = np.eye(3, dtype=np.float32)
    question = axes[:2]  # two words, the first weighted three times the second
    weights = np.asarray([3.0, 1.0])
    halfway = np.asarray([[0.6, 0.8, 0.0]], dtype=np.float32)  # cosine 0.6 with the first word, 0.8 with the second
    sentences = [axes[:1], axes[2:], halfway, -axes[:2], axes[:0]]
    assert soft_coverages(question, weights, sentences) == pytest.approx([0.75, 0.0, (3 * 0.6 + 0.8) / 4, 0.0, 0.0])
    assert soft_coverages(question, weights, []).shape == (0,)
    assert not soft_coverages(question[:0], weights[:0], [axes]).any()


def test_model_word_vectors_place_related_words_closer(real_engine):
    vectors = real_engine.embedder.word_vectors(["angry", "anger", "locals", "residents", "bus"])
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    cos = vectors @ vectors.T
    assert cos[0, 1] > cos[0, 4] + 0.3  # angry ~ anger, not ~ bus
    assert cos[2, 3] > cos[2, 4] + 0.2  # locals ~ residents


def test_word_vectors_are_the_same_after_the_remembered_word_pieces_are_dropped(real_engine, monkeypatch):
    model = qa.load_embedder(real_engine.store.info.model, real_engine.store.info.runtime)
    words = ["vigilantes", "refugee", "camp", "vigilantes", ""]
    before = model.word_vectors(words)
    monkeypatch.setattr("qa.models.MAX_REMEMBERED_WORDS", 2)
    model.word_vectors(["tents", "burning", "casualties"])  # over the limit: starts afresh
    assert len(model._pieces) <= 3
    after = model.word_vectors(words)
    assert np.allclose(before, after) and np.allclose(before[0], before[3])
    assert not after[4].any()  # a word without pieces has no direction


def test_soft_coverage_credits_a_paraphrase_that_term_coverage_misses(real_engine):
    question = "How did angry locals lash out after the bombings?"
    paraphrase = "The anger of residents spilled over into attacks on displaced Syrians."
    store = real_engine.store
    chunk_id = next(
        i
        for i in store.chunk_ids()
        if paraphrase in real_engine.document(store.chunk(i).doc_id).text[store.chunk(i).start : store.chunk(i).end]
    )
    candidate = Candidate(chunk_id=chunk_id, score=0.0, dense=0.5, lexical=0.0)
    signals = real_engine.featurizer.signals(real_engine.question(question), candidate)
    assert signals.soft_coverage > signals.sentence_coverage + 0.2


def test_chunk_cache_computes_once_and_forgets_the_least_recently_used():
    calls = []
    cache = ChunkCache(lambda i: calls.append(i) or i * 10, size=2)
    assert [cache(1), cache(2), cache(1)] == [10, 20, 10] and calls == [1, 2]
    cache(3)  # over the size: chunk 2, used least recently, goes
    assert len(cache) == 2
    cache(1), cache(2)
    assert calls == [1, 2, 3, 2]


def test_a_value_put_in_passing_is_not_computed_again_and_counts_against_the_size():
    calls = []
    cache = ChunkCache(lambda i: calls.append(i) or i * 10, size=2)
    cache.put(1, 11)  # a search's row carried it
    assert 1 in cache and 2 not in cache and cache(1) == 11 and calls == []
    cache.put(2, 22), cache.put(3, 33)
    assert 1 not in cache and len(cache) == 2


def test_hash_word_vectors_match_only_the_same_word(hash_embedder):
    a, b, again = hash_embedder.word_vectors(["anger", "angry", "anger"])
    assert np.allclose(a, again) and abs(float(a @ b)) < 0.5


def test_sentence_features_read_the_closest_sentence(real_engine):
    question = real_engine.question("How did angry residents react after the Jableh and Tartous bombings?")
    candidates, x = real_engine.featurizer.featurize(question, real_engine.search(question.text, 10))
    column = {f: x[:, FEATURES.index(f)] for f in FEATURES}
    for row, c in enumerate(candidates):
        similarities = c.signals.sentence_similarity
        assert len(similarities) == len(c.signals.sentences) == len(real_engine.featurizer.sentences(c.chunk_id))
        closest = max(float(similarities.max()), c.dense)  # a sentence, or the whole chunk if closer
        assert column["sentence_dense"][row] == pytest.approx(closest, abs=1e-6)
    assert column["sentence_dense_gap"].max() == 0.0 and (column["sentence_dense_gap"] <= 0).all()
    assert column["coverage_gap"].max() == 0.0


def test_every_feature_is_read_by_name():
    """A feature is a field of the candidate list, a gap of a signal, or a named signal: never a position."""
    names = {f.name for f in Signals.__dataclass_fields__.values()}
    for feature in FEATURES:
        assert feature in LIST_FEATURES or feature in SIGNAL_FEATURES or feature.removesuffix("_gap") in GAPS
    assert set(SIGNAL_FEATURES) <= names


def test_a_chunks_own_features_do_not_depend_on_the_list_it_is_ranked_in(real_engine):
    question = real_engine.question("How many people did the bombings in Jableh and Tartous kill?")
    candidates = real_engine.search(question.text, 8)
    _, in_list = real_engine.featurizer.featurize(question, candidates)
    real_engine.featurizer.featurize(real_engine.question("What is Amaq?"), candidates[:1])  # another question
    alone = np.vstack([real_engine.featurizer.featurize(question, [c])[1] for c in candidates])
    relative = [i for i, f in enumerate(FEATURES) if f.endswith("_gap") or f == "lexical"]
    own = [i for i in range(len(FEATURES)) if i not in relative]
    assert np.allclose(in_list[:, own], alone[:, own])
    assert not np.allclose(in_list[:, FEATURES.index("coverage_gap")], 0.0)  # the list-relative ones do depend on it


ALIKE = {frozenset({"Islamic State", "Daesh"}): 0.61, frozenset({"Isis", "Daesh"}): 0.69}


def similarity(names: list[str]) -> np.ndarray:
    """Cosines of a few names as the shipped MiniLM gives them (0.3 for every pair not listed)."""
    return np.array([[1.0 if a == b else ALIKE.get(frozenset({a, b}), 0.3) for b in names] for a in names])


def answers(*pairs: tuple[str, str]) -> list[Statement]:
    return [Statement(n, source, 10 * n, 10 * n + 9, name) for n, (source, name) in enumerate(pairs)]


def test_names_from_different_outlets_that_are_not_one_another_differ():
    who = "Who carried out the bombings?"
    three = answers(("Reuters", "Islamic State"), ("Arab News", "Daesh"), ("EA WorldView", "Ahrar al-Sham"))
    found = find_name_disagreement(three, who, similarity)
    assert found.kind == "name" and found.names() == ["Islamic State", "Ahrar al-Sham"] and found.values() == []
    assert [c.source for c in found.claims] == ["Reuters", "EA WorldView"]
    # one group under several names, a shared word, one outlet, or no name at all: nothing to show
    assert find_name_disagreement(three[:2], who, similarity) is None
    same = answers(("Reuters", "the Islamic State group"), ("AP", "Islamic State"))
    assert find_name_disagreement(same, who, similarity) is None
    one_outlet = answers(("EA WorldView", "Islamic State"), ("EA WorldView", "Ahrar al-Sham"))
    assert find_name_disagreement(one_outlet, who, similarity) is None
    unnamed = answers(("Reuters", "the militant group"), ("AP", "Ahrar al-Sham"))
    assert find_name_disagreement(unnamed, who, similarity) is None


def test_a_name_the_question_already_says_is_no_answer():
    assert name_words("Bashar al-Assad", "Whom did Assad blame?") == frozenset({"bashar"})
    assert name_words("Assad", "Whom did Assad blame?") == frozenset()
    assert name_words("rebels", "Who attacked?") == frozenset()
    assert name_words("He", "Who attacked?") == name_words("The group", "Who attacked?") == frozenset()


@pytest.mark.parametrize(
    ("question", "who"),
    [
        ("Who carried out the bombings?", True),
        ("By whom was Zahran Alloush killed?", True),
        ("Which group claimed responsibility?", True),
        ("Which militant group claimed the attacks?", True),
        ("Where did Assad work as a surgeon?", False),
        ("How many were killed?", False),
        ("Which city was hit first?", False),
        ("Who was Zahran Alloush?", False),  # who someone is: a description, not a name, answers it
        ("Who were the bombers working for?", True),
    ],
)
def test_a_question_asks_who(question: str, who: bool):
    assert asks_who(question) is who
