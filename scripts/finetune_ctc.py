"""CTC fine-tuning of a wav2vec / vq-wav2vec / wav2vec 2.0 model (also under ``accelerate launch`` / ``torchrun``).

    python scripts/finetune_ctc.py --model PRETRAINED_DIR --train DATA --eval DATA --output_dir DIR [...]

Every option: ``python scripts/finetune_ctc.py --help`` (the same as ``wav2vec-hf finetune``).
"""

from __future__ import annotations

import sys

from wav2vec_hf.commands.finetune import main

if __name__ == "__main__":
    sys.exit(main())
