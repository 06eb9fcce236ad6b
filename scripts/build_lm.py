"""Build a word n-gram LM (ARPA + unigrams.txt) from text, optionally attached to a fine-tuned model.

    python scripts/build_lm.py --text lm_text.txt --order 4 --out lm/ [--attach MODEL_DIR]

The same as ``wav2vec-hf build-lm``; see ``wav2vec_hf.decoding.lm_build``.
"""

from __future__ import annotations

import sys

from wav2vec_hf.cli_options import CommandParser, finish_command_parser
from wav2vec_hf.commands.build_lm import add_arguments, run

if __name__ == "__main__":
    parser = finish_command_parser(add_arguments(CommandParser(description=__doc__.splitlines()[0])))
    sys.exit(run(parser.parse_args()))
