"""The steps of ``wav2vec-hf demo`` (``wav2vec_hf.recipes.demo`` runs them in order), one module per job:

``scales`` (sizes), ``environment`` (device, hardware record, JSON), ``pretraining``, ``finetuning``,
``decoding`` (LM build, greedy / LM scores), ``selftraining``, ``hub`` (cards, dry-run folder),
``claims`` (the table and the pretraining guard), ``plots``, ``report`` (table + plots + guard steps).
"""
