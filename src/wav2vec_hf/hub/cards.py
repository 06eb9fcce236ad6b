"""Model cards: fill a ``model_cards/`` template with the folder's facts and the run's records.

``render_card(folder, options)`` detects the artefact kind (``artefacts``), reads the run records
(``records``, ``scores``), builds the Hub metadata with huggingface_hub's ``ModelCardData`` (license,
language, datasets, tags, pipeline tag, library, base model, ``model-index`` with WER / CER per eval
set and decoder) and renders the kind's template with ``ModelCard.from_template``. The result is
parsed back with huggingface_hub's own parser (``check_card``) before it is returned, so a card that
the Hub would reject never leaves this module.
"""

from __future__ import annotations

import math
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from huggingface_hub import ModelCard, ModelCardData

from wav2vec_hf.convert.run_record import ConversionRecord
from wav2vec_hf.errors import Wav2VecHFError
from wav2vec_hf.hub.artefacts import (
    CTC,
    CTC_LM,
    LANGUAGE_MODEL_DIR,
    UNITS_BERT,
    VQ_WAV2VEC,
    WAV2VEC,
    WAV2VEC2,
    Artefact,
    ArtefactError,
    describe_folder,
    read_json_file,
)
from wav2vec_hf.hub.citations import PAPER_TITLES, bibtex_for, papers_for
from wav2vec_hf.hub.records import (
    RunRecords,
    base_model_reference,
    hardware,
    hyperparameters,
    pretraining_quality,
    read_run_records,
    run_facts,
    table_cell,
    training_data,
    training_dataset_ids,
)
from wav2vec_hf.hub.scores import GREEDY, EvalScore, scores_from_records, to_eval_results

TEMPLATES_ENV = "WAV2VEC_HF_MODEL_CARDS"
TEMPLATES_DATA_DIR = Path("share", "wav2vec-hf", "model_cards")
"""Where a wheel installs the templates, relative to the installation prefix."""
DISTRIBUTION = "wav2vec-hf"
DEFAULT_LICENSE = "apache-2.0"
# fairseq's README: "fairseq(-py) is MIT-licensed. The license applies to the pre-trained models as well."
FAIRSEQ_LICENSE = "mit"
LIBRARY_NAME = "transformers"
PIPELINE_TAGS = {
    WAV2VEC: "feature-extraction",
    VQ_WAV2VEC: "feature-extraction",
    WAV2VEC2: "feature-extraction",
    UNITS_BERT: "fill-mask",
    CTC: "automatic-speech-recognition",
    CTC_LM: "automatic-speech-recognition",
}
GENERATION_NAMES = {"wav2vec": "wav2vec", "vq-wav2vec": "vq-wav2vec", "wav2vec2": "wav2vec 2.0"}
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_PLACEHOLDER_USER = "your-username"
_POOR_WER = 0.9  # above this greedy WER the card warns that words are not yet transcribed reliably


class CardError(Wav2VecHFError, ValueError):
    """A card that cannot be rendered or that huggingface_hub's parser does not accept."""


@dataclass
class CardOptions:
    """What the folder cannot tell: where it is published and under which terms.

    Attributes:
        repo_id: ``org/name`` on the Hub (used in the usage snippet and as the model-index name).
        license: a Hub license id; default: ``mit`` for converted fairseq checkpoints (fairseq's
            licence), else ``apache-2.0`` (this project's).
        language: ISO 639 codes of the training speech.
        datasets: Hub dataset ids of the training data (only ids: local paths are described in the body);
            default: the Hub id ``finetuning.json`` recorded for training data loaded from the Hub.
        base_model: Hub id of the model this one was fine-tuned from (default: the recorded one if
            it is a Hub id rather than a local folder).
        model_name: the model-index name (default: the repo name).
        tags: extra tags.
        self_trained: cite and tag self-training (default: a ``self_training.json`` record exists).
        results: evaluation results overriding the folder's records.
        results_source: where ``results`` came from (shown in the card).
        limitations: extra limitation sentences.
    """

    repo_id: str | None = None
    license: str | None = None
    language: list[str] = field(default_factory=lambda: ["en"])
    datasets: list[str] = field(default_factory=list)
    base_model: str | None = None
    model_name: str | None = None
    tags: list[str] = field(default_factory=list)
    self_trained: bool | None = None
    results: list[EvalScore] | None = None
    results_source: str | None = None
    limitations: list[str] = field(default_factory=list)


@dataclass
class RenderedCard:
    """A rendered and parsed-back card.

    Attributes:
        card: the huggingface_hub ``ModelCard``.
        text: its README.md text.
        artefact: the folder's description.
        records: the run records used.
        scores: the evaluation results in the card.
        notes: things the publisher should know (e.g. a local base model not linked).
    """

    card: ModelCard
    text: str
    artefact: Artefact
    records: RunRecords
    scores: list[EvalScore]
    notes: list[str]


def default_templates_dir() -> Path:
    """Where the templates are, the first that exists of:

    1. ``$WAV2VEC_HF_MODEL_CARDS``;
    2. the copy an installed wheel put under ``<prefix>/share/wav2vec-hf/model_cards``
       (``[tool.setuptools.data-files]``), found through the files its ``RECORD`` lists, so any
       ``--prefix``, ``--user`` or virtual environment works;
    3. the checkout's ``model_cards/`` (source tree or editable install);
    4. ``sys.prefix/share/wav2vec-hf/model_cards``.

    The repository's top-level ``model_cards/`` is the only copy in git; a wheel carries it as data
    files rather than package data because setuptools' package data must live inside the package.
    """
    configured = os.environ.get(TEMPLATES_ENV)
    if configured:
        return Path(configured)
    candidates = [
        _installed_templates_dir(),
        Path(__file__).resolve().parents[3] / "model_cards",
        Path(sys.prefix) / TEMPLATES_DATA_DIR,
    ]
    return next((path for path in candidates if path is not None and path.is_dir()), candidates[-1])


def _installed_templates_dir() -> Path | None:
    """The data-files folder of the wheel this module was installed from, or None (not installed
    from a wheel, e.g. a checkout or an editable install, whose metadata lists no such file)."""
    from importlib.metadata import distributions

    site_dir = Path(__file__).resolve().parents[2]  # <site-packages>/wav2vec_hf/hub/cards.py
    for dist in distributions(name=DISTRIBUTION, path=[str(site_dir)]):
        for file in dist.files or ():
            if file.parent.as_posix().endswith(TEMPLATES_DATA_DIR.as_posix()) and file.suffix == ".md":
                return Path(dist.locate_file(file)).resolve().parent
    return None


def render_card(
    folder: str | Path,
    options: CardOptions | None = None,
    *,
    artefact: Artefact | None = None,
    records: RunRecords | None = None,
    templates_dir: str | Path | None = None,
) -> RenderedCard:
    """Render the model card of ``folder``.

    Args:
        folder: a ``save_pretrained`` folder of one of the kinds in ``artefacts``.
        options: publication settings (``CardOptions``).
        artefact, records: already computed descriptions (read from ``folder`` when None).
        templates_dir: the folder with the templates (default ``default_templates_dir()``).

    Raises:
        ArtefactError, ScoresError: the folder or its records cannot be used.
        CardError: a template is missing or the rendered card does not parse.
    """
    options = options or CardOptions()
    artefact = artefact or describe_folder(folder)
    records = records if records is not None else read_run_records(artefact.folder)
    notes: list[str] = []
    if options.results is not None:
        scores, scores_source = options.results, options.results_source or "the results given to push-to-hub"
    else:
        scores, scores_source = scores_from_records(records)
    if scores and not artefact.is_ctc:
        notes.append(
            f"WER / CER results from {scores_source} left out: a {artefact.kind} model does not transcribe."
        )
        scores = []
    self_trained = records.self_trained if options.self_trained is None else options.self_trained
    papers = papers_for(artefact.generation, self_trained)
    if options.repo_id is not None and not _HUB_ID.match(options.repo_id):
        raise CardError(f"repo_id {options.repo_id!r}: give a Hub repo id (org/name).")
    placeholder = re.sub(r"[^\w.-]+", "-", artefact.folder.resolve().name).strip("-.") or "model"
    repo_id = options.repo_id or f"{_PLACEHOLDER_USER}/{placeholder}"
    model_name = options.model_name or repo_id.split("/")[-1]
    base_model = _base_model(options, records, notes)
    license_id = options.license or (FAIRSEQ_LICENSE if records.conversion is not None else DEFAULT_LICENSE)
    eval_results = to_eval_results(scores)
    local = sorted({score.dataset_name for score in scores if score.dataset_type is None})
    if local:
        notes.append(
            f"results on {', '.join(local)} are in the card's table but not in its model-index metadata, "
            "which takes Hub datasets only (give a results file with a Hub dataset id as dataset.type)"
        )

    card_data = ModelCardData(
        language=list(options.language) or None,
        license=license_id,
        library_name=LIBRARY_NAME,
        pipeline_tag=PIPELINE_TAGS[artefact.kind],
        tags=_tags(artefact, records, self_trained, options.tags),
        datasets=list(options.datasets) or training_dataset_ids(records) or None,
        base_model=base_model,
        metrics=_metric_types(scores) or None,
        model_name=model_name if eval_results else None,
        eval_results=eval_results or None,
    )
    template = Path(templates_dir or default_templates_dir()) / artefact.template_file
    if not template.is_file():
        raise CardError(
            f"{template}: model card template not found; set {TEMPLATES_ENV} to the model_cards/ folder "
            f"of a wav2vec-hf checkout, or reinstall wav2vec-hf from its wheel (which puts the templates "
            f"under <prefix>/{TEMPLATES_DATA_DIR.as_posix()}; pip install --target drops them)."
        )
    variables = _template_variables(artefact, records, options, scores, scores_source, papers, repo_id)
    card = ModelCard.from_template(card_data, template_path=str(template), **variables)
    text = str(card)
    check_card(text, expected=card_data)
    return RenderedCard(card=card, text=text, artefact=artefact, records=records, scores=scores, notes=notes)


def check_card(text: str, expected: ModelCardData | None = None) -> ModelCardData:
    """Parse a README.md with huggingface_hub's parser (strict: metadata errors raise).

    With ``expected``, the parsed metadata must equal it field by field (so nothing was lost in YAML).

    Raises:
        CardError: the text has no metadata block, it does not parse, or a field differs.
    """
    if not text.startswith("---"):
        raise CardError("the card has no YAML metadata block at its top.")
    try:
        parsed = ModelCard(text, ignore_metadata_errors=False).data
    except Exception as error:  # yaml.YAMLError, ValueError from model-index parsing
        raise CardError(f"huggingface_hub cannot parse the card's metadata: {error}") from error
    if expected is not None:
        got, want = parsed.to_dict(), expected.to_dict()
        differing = sorted(key for key in set(got) | set(want) if got.get(key) != want.get(key))
        if differing:
            raise CardError(
                f"the card's metadata does not round-trip through YAML; fields {differing} differ."
            )
    return parsed


def _base_model(options: CardOptions, records: RunRecords, notes: list[str]) -> str | None:
    """``--base-model`` (checked to be a Hub id). The recorded starting point is only mentioned: a
    local path can look like ``org/name``, and a wrong ``base_model`` makes the Hub refuse the card."""
    if options.base_model:
        if not _HUB_ID.match(options.base_model):
            raise CardError(f"--base-model {options.base_model!r}: give a Hub model id (org/name).")
        return options.base_model
    recorded = base_model_reference(records)
    if recorded is not None:
        notes.append(
            f"fine-tuned from {recorded!r} (finetuning.json); pass --base-model org/name to link the "
            "published base model in the card's metadata."
        )
    return None


def _metric_types(scores: list[EvalScore]) -> list[str]:
    """The metric ids present in ``scores`` ("cer", "wer"), sorted."""
    return sorted(
        {name for s in scores for name, value in (("wer", s.wer), ("cer", s.cer)) if value is not None}
    )


def _tags(artefact: Artefact, records: RunRecords, self_trained: bool, extra: list[str]) -> list[str]:
    tags = ["wav2vec-hf", "audio", "speech", artefact.generation]
    if artefact.kind == UNITS_BERT:
        tags += ["bert", "discrete-units"]
    elif artefact.is_ctc:
        tags += ["automatic-speech-recognition", "ctc"]
        if artefact.kind == CTC_LM:
            tags += ["kenlm", "n-gram"]
    else:
        tags += ["self-supervised-learning", "pretraining"]
    if artefact.remote_code:
        tags.append("custom_code")
    if records.conversion is not None:
        tags.append("fairseq")
    if self_trained:
        tags.append("self-training")
    return list(dict.fromkeys([*tags, *extra]))


def _template_variables(
    artefact: Artefact,
    records: RunRecords,
    options: CardOptions,
    scores: list[EvalScore],
    scores_source: str | None,
    papers: list[str],
    repo_id: str,
) -> dict[str, Any]:
    config = artefact.config
    limitations = list(options.limitations)
    greedy_wers = [s.wer for s in scores if s.decoder == GREEDY and s.wer is not None]
    if greedy_wers and min(greedy_wers) >= _POOR_WER:
        limitations.append(
            f"Its best greedy WER is {100 * min(greedy_wers):.0f}%: at this scale it does not yet transcribe "
            "words reliably (the CER shows what it did learn)."
        )
    if artefact.is_ctc and not scores:
        limitations.append(
            "No evaluation results were recorded for this model: measure it on your data first."
        )
    lm_attrs = _lm_attributes(artefact)
    conversion = records.conversion or ConversionRecord()
    return {
        "repo_id": repo_id,
        "kind": artefact.kind,
        "generation": artefact.generation,
        "generation_name": GENERATION_NAMES[artefact.generation],
        "remote_code": artefact.remote_code,
        "architecture": artefact.architectures[0] if artefact.architectures else artefact.model_type,
        "parameters": f"{artefact.parameters:,}",
        "has_feature_extractor": artefact.has_feature_extractor,
        "normalize": _normalizes_audio(artefact),
        "sampling_rate": int(config.get("sampling_rate") or 16000),
        "hop_ms": f"{_hop_ms(artefact):g}",
        "receptive_ms": f"{_receptive_field_ms(artefact):.0f}",
        "output_dim": _output_dim(artefact),
        "is_quantized": artefact.kind == VQ_WAV2VEC,
        "quantizer": _quantizer_facts(config, _hop_ms(artefact)),
        "vocab_size": config.get("vocab_size"),
        "unit_examples": " ".join(artefact.unit_examples),
        "lm_files": list(artefact.lm_files),
        "lm_attrs": lm_attrs,
        "results": [_result_row(score) for score in scores],
        "results_source": scores_source,
        "hyperparameters": hyperparameters(records),
        "run_facts": run_facts(records),
        "hardware_rows": hardware(records),
        "training_data": training_data(records),
        "pretraining_quality": pretraining_quality(records),
        "record_files": sorted(records.paths.values()),
        "converted_from": conversion.source_file,
        "not_in_transformers": conversion.not_in_transformers or [],
        "self_trained": "self-training" in papers,
        "paper_titles": [PAPER_TITLES[paper] for paper in papers],
        "bibtex": bibtex_for(papers),
        "extra_limitations": limitations,
    }


def _result_row(score: EvalScore) -> dict[str, str]:
    def percent(value: float | None) -> str:
        return "–" if value is None else f"{100 * value:.2f}"

    lm = score.lm or {}
    details = ", ".join(f"{key} {value}" for key, value in lm.items() if key != "order")
    return {
        "dataset": table_cell(score.dataset_name),
        "split": table_cell(score.dataset_split or ""),
        "decoder": table_cell(score.decoder_label + (f" ({details})" if details else "")),
        "wer": percent(score.wer),
        "cer": percent(score.cer),
    }


def _lm_attributes(artefact: Artefact) -> dict[str, Any]:
    attrs_path = artefact.folder / LANGUAGE_MODEL_DIR / "attrs.json"
    if artefact.kind != CTC_LM or not attrs_path.is_file():
        return {}
    content = read_json_file(attrs_path, "the LM fusion weights")
    if not isinstance(content, dict):
        raise ArtefactError(
            f"{attrs_path}: expected an object with alpha, beta, unk_score_offset, score_boundary."
        )
    return content


def _normalizes_audio(artefact: Artefact) -> bool:
    """The feature extractor's ``do_normalize`` (fairseq's ``normalize``): False when unknown."""
    folder = artefact.folder
    if (folder / "preprocessor_config.json").is_file():
        content = read_json_file(folder / "preprocessor_config.json", "the feature extractor configuration")
        return bool(content.get("do_normalize", False))
    if (folder / "processor_config.json").is_file():
        content = read_json_file(folder / "processor_config.json", "the processor configuration")
        return bool((content.get("feature_extractor") or {}).get("do_normalize", False))
    return False


def _hop_ms(artefact: Artefact) -> float:
    """Milliseconds between output frames: the product of the encoder strides at the sampling rate."""
    config = artefact.config
    if artefact.kind == UNITS_BERT:
        return 10.0
    if artefact.model_type == "wav2vec2":
        strides = config.get("conv_stride") or [5, 2, 2, 2, 2, 2, 2]
    else:
        strides = [
            layer[2]
            for layer in config.get("conv_feature_layers") or [[512, 10, 5], [512, 8, 4]] + [[512, 4, 2]] * 3
        ]
    rate = int(config.get("sampling_rate") or 16000)
    return 1000 * math.prod(int(s) for s in strides) / rate


def _receptive_field_ms(artefact: Artefact) -> float:
    """Milliseconds of audio one encoder frame sees: 1 + sum_l (kernel_l - 1) * (stride product before l)."""
    config = artefact.config
    if artefact.model_type == "wav2vec2":
        layers = list(
            zip(
                config.get("conv_kernel") or [10, 3, 3, 3, 3, 2, 2],
                config.get("conv_stride") or [5, 2, 2, 2, 2, 2, 2],
            )
        )
    else:
        layers = [(layer[1], layer[2]) for layer in config.get("conv_feature_layers") or []]
    samples, jump = 1, 1
    for kernel, stride in layers:
        samples += (int(kernel) - 1) * jump
        jump *= int(stride)
    return 1000 * samples / int(config.get("sampling_rate") or 16000)


def _output_dim(artefact: Artefact) -> int | None:
    config = artefact.config
    if artefact.model_type in ("wav2vec", "vq-wav2vec"):
        if config.get("aggregator") == "gru":
            return config.get("gru_dim")
        layers = config.get("conv_aggregator_layers") or []
        return int(layers[-1][0]) if layers else None
    return config.get("hidden_size")


def _quantizer_facts(config: dict[str, Any], hop_ms: float) -> dict[str, Any]:
    """Codebook sizes and the most bits per second the codes can carry (vq-wav2vec section 6)."""
    if config.get("model_type") != "vq-wav2vec":
        return {}
    groups, entries = int(config.get("vq_groups") or 2), int(config.get("vq_vars") or 320)
    return {
        "type": {"gumbel": "Gumbel-softmax", "kmeans": "k-means"}.get(
            config.get("vq_type"), config.get("vq_type")
        ),
        "groups": groups,
        "entries": entries,
        "combinations": entries**groups,
        "max_kbits": groups * math.log2(entries) * (1000 / hop_ms) / 1000,
    }


__all__ = [
    "DEFAULT_LICENSE",
    "FAIRSEQ_LICENSE",
    "PIPELINE_TAGS",
    "TEMPLATES_ENV",
    "CardError",
    "CardOptions",
    "RenderedCard",
    "check_card",
    "default_templates_dir",
    "render_card",
]
