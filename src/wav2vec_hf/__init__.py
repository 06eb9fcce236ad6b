"""wav2vec-hf: the wav2vec family (wav2vec, vq-wav2vec, wav2vec 2.0, self-training) for Hugging Face.

Importing the package registers the wav2vec and vq-wav2vec model types with transformers' Auto
classes, so ``AutoConfig``/``AutoModel``/``AutoModelForPreTraining``/``AutoModelForCTC.from_pretrained``
load our folders, routes ``pipeline("automatic-speech-recognition")`` for our models
(``inference.registration``) and lets ``AutoProcessor`` load our processor with an LM
(``registration`` lists all three). wav2vec 2.0 uses transformers' own ``Wav2Vec2*`` classes.

The registration runs as soon as transformers is imported, not before (``import_hooks``): importing
the package itself imports neither torch nor transformers, so ``wav2vec-hf --help`` starts fast.
"""

__version__ = "0.1.0"

from wav2vec_hf.import_hooks import call_after_import
from wav2vec_hf.models import register_auto_classes
from wav2vec_hf.registration import register_with_transformers

# models.wav2vec imports transformers at its top: registering waits until it has finished importing.
call_after_import("transformers", register_with_transformers, not_during=("wav2vec_hf.models.wav2vec",))

__all__ = ["__version__", "register_auto_classes", "register_with_transformers"]
