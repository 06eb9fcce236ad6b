"""CTC fine-tuning of every wav2vec generation with transformers' ``Trainer``.

Modules: ``vocabulary`` (text normalisation, letter vocabulary, unknown characters), ``data``
(labels, CTC feasibility, padding), ``models`` (pretrained folder -> CTC model + feature extractor),
``schedule`` (head-first phase or fairseq's frozen start, tri-stage), ``metrics`` (offline WER / CER,
``evaluate`` metrics), ``diagnostics`` (all-blank plateau warnings), ``arguments`` (command-line
dataclasses), ``paper_recipes`` (fairseq's ten wav2vec 2.0 fine-tuning configs as one table),
``recipe_resolution`` (``--recipe``: recipe values < options given, overrides reported), ``ctc``
(``finetune_ctc``: the whole job), ``run_record`` (``finetuning.json`` as a dataclass, read by the
model card). The FSDD recipes and the pretrained-vs-scratch comparison are in ``wav2vec_hf.recipes``.

Import the submodules directly (``from wav2vec_hf.finetuning.ctc import finetune_ctc``); this package
imports nothing heavy itself.
"""
