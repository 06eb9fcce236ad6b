"""``python -m wav2vec_hf <command> ...``: the ``wav2vec-hf`` command line, runnable as a module.

An installed wheel has no ``scripts/`` folder; this is how its commands run under a launcher that
takes a module, e.g. ``accelerate launch -m wav2vec_hf pretrain --model_type wav2vec2 ...`` or
``torchrun --nproc_per_node 2 -m wav2vec_hf finetune ...`` (the repo's ``scripts/*.py`` are the same).
"""

import sys

from wav2vec_hf.cli import main

if __name__ == "__main__":
    sys.exit(main())
