"""Pretrain wav2vec, vq-wav2vec, wav2vec 2.0 or BERT on vq-wav2vec units.

    accelerate launch scripts/pretrain.py --model_type wav2vec2 --preset wav2vec2-base \\
        --train train.tsv --valid valid.tsv --output_dir runs/base [--max_steps N] [--config run.yaml]

Every option: ``--help``; the recipes and what a healthy run looks like: docs/pretraining.md.
The same as ``wav2vec-hf pretrain``; see ``wav2vec_hf.pretraining.loop``.
"""

from __future__ import annotations

import sys

from wav2vec_hf.commands.pretrain import main

if __name__ == "__main__":
    sys.exit(main())
