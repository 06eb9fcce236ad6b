"""Decoding with word n-gram LMs: build the LM, attach it to a model, tune it, decode fast.

Path of the data: text files -> ``lm_text`` (normalised like the tokenizer) -> ``ngram``
(interpolated modified Kneser-Ney, ARPA) -> ``lm_build`` (LM folder) -> ``processor``
(``attach_language_model``: the Hub's ``*-with-lm`` layout; ``AutoProcessor`` loads it) -> ``decoder``
(lockstep CTC prefix beam search with shallow fusion) via ``CTCProcessorWithLanguageModel.batch_decode``
(``parallel``: one reusable process pool) -> ``tuning`` (alpha/beta on a dev set).

Modules: ``lm_text``, ``ngram``, ``lm_build``, ``language_model`` (KenLM + weights + folder),
``alphabet`` (labels, ``alphabet.json``), ``greedy`` (the one best-path decoder), ``lexicon``
(token trie), ``decoder``, ``parallel``,
``processor``, ``tuning``, ``logits`` (CTC logits of a padded batch equal to each utterance's alone),
``inference`` (logits of a dev set), ``scoring`` (error rates), ``synthetic``
(CTC-like emissions for tests and benchmarks).
"""

from wav2vec_hf.decoding.alphabet import AlphabetError, labels_from_vocabulary
from wav2vec_hf.decoding.decoder import (
    CTCBeamSearchDecoder,
    DecodeOptions,
    DecodingError,
    Hypothesis,
    WordOffset,
)
from wav2vec_hf.decoding.greedy import greedy_decode
from wav2vec_hf.decoding.language_model import FusionWeights, LanguageModelError, NgramLanguageModel
from wav2vec_hf.decoding.lm_build import LmBuild, build_lm
from wav2vec_hf.decoding.lm_text import lm_text_normalizer
from wav2vec_hf.decoding.ngram import NgramModel, estimate_kneser_ney, perplexity, write_arpa
from wav2vec_hf.decoding.parallel import DecoderPool, DecoderSpec
from wav2vec_hf.decoding.processor import (
    CTCProcessorWithLanguageModel,
    LMDecoderOutput,
    attach_language_model,
    write_fusion_weights,
)
from wav2vec_hf.decoding.tuning import TuningResult, tune_weights

__all__ = [
    "AlphabetError",
    "CTCBeamSearchDecoder",
    "CTCProcessorWithLanguageModel",
    "DecodeOptions",
    "DecoderPool",
    "DecoderSpec",
    "DecodingError",
    "FusionWeights",
    "Hypothesis",
    "LMDecoderOutput",
    "LanguageModelError",
    "LmBuild",
    "NgramLanguageModel",
    "NgramModel",
    "TuningResult",
    "WordOffset",
    "attach_language_model",
    "build_lm",
    "estimate_kneser_ney",
    "greedy_decode",
    "labels_from_vocabulary",
    "lm_text_normalizer",
    "perplexity",
    "tune_weights",
    "write_arpa",
    "write_fusion_weights",
]
