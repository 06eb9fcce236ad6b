"""Self-training (pseudo-labelling) of "Self-training and Pre-training are Complementary" (Xu et al. 2021).

Modules: ``rounds`` (the recipe, ``run_self_training``), ``stages`` (resumable stages with atomic
markers), ``evaluation`` (greedy / LM scores, alpha-beta tuning), ``rescoring`` (n-best lists, combined
score, weight tuning), ``neural_lm`` (a small causal Transformer LM: training and scoring),
``pseudo_labels`` (filter and tables), ``seq2seq`` (option b's final model). The built-in corpus and
FSDD recipes in one command live with the other recipes (``wav2vec_hf.recipes.self_training``).
"""

from wav2vec_hf.selftraining.rounds import (
    TABLE_KEYS,
    SelfTrainingConfig,
    SelfTrainingResult,
    format_table,
    run_self_training,
)

__all__ = ["TABLE_KEYS", "SelfTrainingConfig", "SelfTrainingResult", "format_table", "run_self_training"]
