"""One module per ``wav2vec-hf`` command; see ``wav2vec_hf.cli``.

Command modules import their heavy dependencies inside ``run`` so that ``wav2vec-hf --help`` stays fast.
"""
