"""wav2vec-hf: the wav2vec family (wav2vec, vq-wav2vec, wav2vec 2.0, self-training) for Hugging Face."""

__version__ = "0.1.0"
