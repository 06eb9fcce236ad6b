"""The pseudo-label filter (length-normalised confidence, agreement, keep fraction) and the tables."""

from __future__ import annotations

import csv

import pytest

from wav2vec_hf.selftraining.pseudo_labels import (
    FilterSettings,
    PseudoLabel,
    choose_pseudo_labels,
    filter_pseudo_labels,
    length_normalized,
    pseudo_label_rows,
    write_table,
)
from wav2vec_hf.selftraining.rescoring import NBest, RescoreWeights, ScoredHypothesis


def _label(uid: str, text: str, normalized: float, agrees: bool = True) -> PseudoLabel:
    return PseudoLabel(uid, f"/a/{uid}.wav", text, normalized * (len(text) + 1), normalized, agrees)


def test_length_normalisation_divides_by_characters_plus_one():
    assert length_normalized(-12.0, "ABC DE") == pytest.approx(-12.0 / 7)
    assert length_normalized(-3.0, "") == pytest.approx(-3.0)


def test_choice_uses_the_rescoring_weights_and_records_agreement():
    nbest = NBest(
        id="u1",
        path="/a/u1.wav",
        speaker="s",
        hypotheses=[ScoredHypothesis("AB", -1.0, -4.0, -6.0, 0), ScoredHypothesis("AC", -2.0, -1.0, -1.0, 1)],
    )
    beam_like = choose_pseudo_labels([nbest], RescoreWeights(0.0, 0.0, 0.0))[0]
    assert (beam_like.text, beam_like.agrees_with_beam, beam_like.combined) == ("AB", True, -1.0)
    rescored = choose_pseudo_labels([nbest], RescoreWeights(1.0, 1.0, 0.0))[0]
    assert rescored.text == "AC" and not rescored.agrees_with_beam
    assert rescored.combined == pytest.approx(-4.0) and rescored.normalized == pytest.approx(-4.0 / 3)
    assert rescored.speaker == "s"


def test_filter_steps_drop_and_count_in_order():
    labels = [
        _label("empty", "", -0.1),
        _label("disagree", "A B", -0.2, agrees=False),
        _label("low", "A B", -5.0),
        _label("good1", "A B", -0.3),
        _label("good2", "A B C", -0.5),
        _label("good3", "A", -0.4),
    ]
    report = filter_pseudo_labels(
        labels, FilterSettings(min_score=-1.0, keep_fraction=0.5, require_agreement=True)
    )
    assert [x.id for x in report.kept] == ["good1", "good3"]  # the best half of 3, input order kept
    assert report.total == 6
    assert dict(report.dropped) == {
        "empty": 1,
        "disagrees_with_beam": 1,
        "below_min_score": 1,
        "outside_keep_fraction": 1,
    }
    everything = filter_pseudo_labels(labels, FilterSettings())
    assert [x.id for x in everything.kept] == ["disagree", "low", "good1", "good2", "good3"]
    assert dict(everything.dropped) == {"empty": 1}


def test_a_balanced_keep_takes_the_share_of_every_transcript():
    """A global cut keeps only the word the model is surest of; the balanced keep takes the most
    confident share of each transcript's group (at least one), the input order kept."""
    labels = [
        _label("one-a", "ONE", -0.9),
        _label("zero-a", "ZERO", -0.1),
        _label("zero-b", "ZERO", -0.2),
        _label("one-b", "ONE", -0.7),
        _label("zero-c", "ZERO", -0.3),
        _label("zero-d", "ZERO", -0.4),
        _label("six", "SIX", -2.0),
    ]
    overall = filter_pseudo_labels(labels, FilterSettings(keep_fraction=0.5))
    assert [x.id for x in overall.kept] == ["zero-a", "zero-b", "zero-c", "zero-d"]
    balanced = filter_pseudo_labels(labels, FilterSettings(keep_fraction=0.5, balance_transcripts=True))
    assert [x.id for x in balanced.kept] == ["zero-a", "zero-b", "one-b", "six"]
    assert dict(balanced.dropped) == {"outside_keep_fraction": 3}


def test_settings_are_checked():
    with pytest.raises(ValueError, match="keep_fraction"):
        FilterSettings(keep_fraction=0.0)


def test_table_rows_round_trip_with_scores(tmp_path):
    labels = [_label("u1", "HELLO WORLD", -0.25), _label("u2", "HI", -1.5)]
    path = write_table(pseudo_label_rows(labels), tmp_path / "pseudo.tsv")
    with open(path, encoding="utf-8") as stream:
        rows = list(csv.DictReader(stream, delimiter="\t"))
    assert [r["transcript"] for r in rows] == ["HELLO WORLD", "HI"]
    assert [float(r["score"]) for r in rows] == [-0.25, -1.5]
    assert {r["source"] for r in rows} == {"pseudo"} and rows[0]["path"] == "/a/u1.wav"
    with pytest.raises(ValueError, match="tab or newline"):
        write_table([{"path": "a.wav", "transcript": "BAD\tTEXT"}], tmp_path / "bad.tsv")
