"""Train a small causal Transformer LM (GPT-2 style) on text, for rescoring n-best lists.

    python scripts/train_lm.py --text lm_text.txt --out nlm/ [--level word] [--steps 300]

The same as ``wav2vec-hf train-lm``; see ``wav2vec_hf.selftraining.neural_lm``.
"""

from __future__ import annotations

import sys

from wav2vec_hf.cli_options import CommandParser, finish_command_parser
from wav2vec_hf.commands.train_lm import add_arguments, run

if __name__ == "__main__":
    parser = finish_command_parser(add_arguments(CommandParser(description=__doc__.splitlines()[0])))
    sys.exit(run(parser.parse_args()))
