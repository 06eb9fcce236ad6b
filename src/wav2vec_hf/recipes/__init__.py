"""Recipes: runs of the library on particular data, and the data they make. Nothing in the library imports them.

The library (models, data, decoding, inference, pretraining, fine-tuning, self-training, convert, the
Hub) is what a user builds on; a recipe is one way of using it, end to end, on the built-in corpus or
on the real speech in ``../shared/data/real``. Recipes may import anything; only the command line
(``wav2vec-hf demo``, ``wav2vec-hf corpus``) and ``python -m`` reach them
(``tests/test_import_layers.py`` enforces it).

* ``demo`` and ``demo_steps/``: ``wav2vec-hf demo``, pretraining -> fine-tuning -> LM -> self-training
  -> cards on the built-in corpus, and its table of claims;
* ``corpus``, ``corpus_text`` (its sentence grammar and the word lists in ``texts/``), ``tts`` (the
  formant synthesiser and eSpeak voices), ``spoken_digits`` (synthetic digit voices): the built-in
  corpus, ``wav2vec-hf corpus``;
* ``fsdd`` (``python -m wav2vec_hf.recipes.fsdd``: the real-speech fine-tuning recipe and the
  leave-one-speaker-out table), ``fsdd_speakers``, ``fsdd_files``, ``finetuning_comparison``;
* ``self_training`` (``python -m wav2vec_hf.recipes.self_training``: self-training on the built-in
  corpus or FSDD in one command).
"""
