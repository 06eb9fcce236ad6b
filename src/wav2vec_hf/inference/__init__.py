"""Inference with fine-tuned CTC models of every wav2vec generation.

* ``pipeline`` (``SpeechRecognitionPipeline``): transformers' ASR pipeline that decodes files with the
  package's loader (no ``ffmpeg`` binary needed) and resamples arrays with soxr.
* ``routing``, ``registration``: ``import wav2vec_hf`` makes ``pipeline("automatic-speech-recognition",
  model=DIR)`` build it for the package's own models only; every other model keeps transformers' class.
* ``transcribe``: many files through that pipeline with a progress bar, TSV / JSONL output with
  timestamps (``wav2vec-hf transcribe``); greedy batch decoding of arrays (``transcribe_arrays``).

Inference sits on decoding: the logits of a padded batch come from ``decoding.logits``, text from
``decoding``'s greedy and LM decoders; nothing below imports this package.
"""
