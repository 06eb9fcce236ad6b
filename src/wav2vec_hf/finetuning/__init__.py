"""CTC fine-tuning of every wav2vec generation with transformers' ``Trainer``.

Modules: ``vocabulary`` (text normalisation, letter vocabulary, unknown characters), ``data``
(labels, CTC feasibility, padding), ``models`` (pretrained folder -> CTC model + feature extractor),
``schedule`` (head-only phase + tri-stage), ``metrics`` (offline WER / CER, ``evaluate`` metrics),
``diagnostics`` (all-blank plateau warnings), ``arguments`` (command-line dataclasses), ``ctc``
(``finetune_ctc``: the whole job), ``recipes`` (ready data splits such as FSDD), ``comparison``
(pretrained vs random initialisation under one budget).

Import the submodules directly (``from wav2vec_hf.finetuning.ctc import finetune_ctc``); this package
imports nothing heavy itself.
"""
