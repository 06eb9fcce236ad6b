"""Publishing to the Hugging Face Hub: model cards, the upload plan, the upload.

* ``artefacts``: which kind of folder is published (wav2vec, vq-wav2vec, units BERT, wav2vec 2.0,
  CTC, CTC with an n-gram LM);
* ``records`` / ``scores``: the run's own records (hyperparameters, hardware, WER / CER);
* ``cards``: the model card, from the kind's template in ``model_cards/``;
* ``remote_code``: the code and ``auto_map`` that let wav2vec / vq-wav2vec load from the Hub;
* ``plan``: exactly which files a repo gets; ``publish``: the upload (token never shown).
"""

from wav2vec_hf.hub.cards import CardOptions, render_card
from wav2vec_hf.hub.plan import UploadPlan, plan_upload
from wav2vec_hf.hub.publish import PublishError, PublishResult, push_folder, push_plan, write_dry_run
from wav2vec_hf.hub.scores import EvalScore

__all__ = [
    "CardOptions",
    "EvalScore",
    "PublishError",
    "PublishResult",
    "UploadPlan",
    "plan_upload",
    "push_folder",
    "push_plan",
    "render_card",
    "write_dry_run",
]
