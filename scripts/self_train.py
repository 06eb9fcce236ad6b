"""Self-training: pseudo-label unlabelled audio and train the final model on labelled + pseudo-labelled data.

    python scripts/self_train.py --pretrained DIR --labeled DATA --unlabeled DATA --dev DATA \
        --lm-text lm_text.txt --output-dir OUT [--rounds 1] [--finetune-args "--max_steps 300"]

The same as ``wav2vec-hf self-train``; a rerun with the same ``--output-dir`` resumes. See
``wav2vec_hf.selftraining`` and docs/self_training.md.
"""

from __future__ import annotations

import sys

from wav2vec_hf.cli_options import CommandParser, finish_command_parser
from wav2vec_hf.commands.self_train import add_arguments, run

if __name__ == "__main__":
    parser = finish_command_parser(add_arguments(CommandParser(description=__doc__.splitlines()[0])))
    sys.exit(run(parser.parse_args()))
