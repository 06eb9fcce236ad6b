"""wav2vec-hf: the wav2vec family (wav2vec, vq-wav2vec, wav2vec 2.0, self-training) for Hugging Face.

Importing the package registers the wav2vec and vq-wav2vec model types with transformers' Auto
classes, so ``AutoConfig``/``AutoModel``/``AutoModelForPreTraining.from_pretrained`` load our folders.
wav2vec 2.0 uses transformers' own ``Wav2Vec2*`` classes.
"""

__version__ = "0.1.0"

from wav2vec_hf.models import register_auto_classes

register_auto_classes()

__all__ = ["__version__", "register_auto_classes"]
