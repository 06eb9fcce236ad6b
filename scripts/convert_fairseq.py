"""Convert a fairseq wav2vec-family checkpoint to a Hugging Face folder.

    python scripts/convert_fairseq.py --checkpoint PATH.pt --output DIR [--trust-pickle]

The same as ``wav2vec-hf convert-fairseq``; see ``wav2vec_hf.convert.fairseq``.
"""

from __future__ import annotations

import sys

from wav2vec_hf.cli_options import CommandParser, finish_command_parser
from wav2vec_hf.commands.convert_fairseq import add_arguments, run

if __name__ == "__main__":
    parser = finish_command_parser(add_arguments(CommandParser(description=__doc__.splitlines()[0])))
    sys.exit(run(parser.parse_args()))
