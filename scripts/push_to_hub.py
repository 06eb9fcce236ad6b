"""Publish a model folder to the Hugging Face Hub with its model card (same as ``wav2vec-hf push-to-hub``).

python scripts/push_to_hub.py runs/finetuned --repo-id org/name [--private] [--revision BRANCH] [--dry-run]
"""

import sys

from wav2vec_hf.commands.push_to_hub import main

if __name__ == "__main__":
    sys.exit(main())
