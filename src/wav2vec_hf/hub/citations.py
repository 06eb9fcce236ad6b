"""BibTeX entries of the wav2vec family's papers, and which ones a published model should cite."""

from __future__ import annotations

WAV2VEC_BIBTEX = """@inproceedings{schneider2019wav2vec,
  title         = {wav2vec: Unsupervised Pre-training for Speech Recognition},
  author        = {Schneider, Steffen and Baevski, Alexei and Collobert, Ronan and Auli, Michael},
  booktitle     = {Proc. Interspeech},
  year          = {2019},
  eprint        = {1904.05862},
  archivePrefix = {arXiv},
  primaryClass  = {cs.CL}
}"""

VQ_WAV2VEC_BIBTEX = """@inproceedings{baevski2020vqwav2vec,
  title         = {vq-wav2vec: Self-Supervised Learning of Discrete Speech Representations},
  author        = {Baevski, Alexei and Schneider, Steffen and Auli, Michael},
  booktitle     = {International Conference on Learning Representations (ICLR)},
  year          = {2020},
  eprint        = {1910.05453},
  archivePrefix = {arXiv},
  primaryClass  = {cs.CL}
}"""

WAV2VEC2_BIBTEX = """@inproceedings{baevski2020wav2vec2,
  title         = {wav2vec 2.0: A Framework for Self-Supervised Learning of Speech Representations},
  author        = {Baevski, Alexei and Zhou, Henry and Mohamed, Abdelrahman and Auli, Michael},
  booktitle     = {Advances in Neural Information Processing Systems (NeurIPS)},
  volume        = {33},
  year          = {2020},
  eprint        = {2006.11477},
  archivePrefix = {arXiv},
  primaryClass  = {cs.CL}
}"""

SELF_TRAINING_BIBTEX = """@inproceedings{xu2021selftraining,
  title         = {Self-training and Pre-training are Complementary for Speech Recognition},
  author        = {Xu, Qiantong and Baevski, Alexei and Likhomanenko, Tatiana and Tomasello, Paden and
                   Conneau, Alexis and Collobert, Ronan and Synnaeve, Gabriel and Auli, Michael},
  booktitle     = {IEEE International Conference on Acoustics, Speech and Signal Processing (ICASSP)},
  year          = {2021},
  eprint        = {2010.11430},
  archivePrefix = {arXiv},
  primaryClass  = {cs.LG}
}"""

PAPER_BIBTEX = {
    "wav2vec": WAV2VEC_BIBTEX,
    "vq-wav2vec": VQ_WAV2VEC_BIBTEX,
    "wav2vec2": WAV2VEC2_BIBTEX,
    "self-training": SELF_TRAINING_BIBTEX,
}
PAPER_TITLES = {
    "wav2vec": "wav2vec: Unsupervised Pre-training for Speech Recognition (arXiv:1904.05862)",
    "vq-wav2vec": "vq-wav2vec: Self-Supervised Learning of Discrete Speech Representations (arXiv:1910.05453)",
    "wav2vec2": "wav2vec 2.0: A Framework for Self-Supervised Learning of Speech Representations (arXiv:2006.11477)",
    "self-training": "Self-training and Pre-training are Complementary for Speech Recognition (arXiv:2010.11430)",
}


def papers_for(generation: str, self_trained: bool = False) -> list[str]:
    """The papers (keys of ``PAPER_BIBTEX``) a model of ``generation`` should cite.

    vq-wav2vec builds on wav2vec's encoder, context network and loss, so it cites both; a
    self-trained model adds Xu et al. (2021) to its generation's paper.
    """
    if generation not in ("wav2vec", "vq-wav2vec", "wav2vec2"):
        raise ValueError(f"generation {generation!r}: expected 'wav2vec', 'vq-wav2vec' or 'wav2vec2'.")
    papers = {"wav2vec": ["wav2vec"], "vq-wav2vec": ["vq-wav2vec", "wav2vec"], "wav2vec2": ["wav2vec2"]}[
        generation
    ]
    return [*papers, "self-training"] if self_trained else papers


def bibtex_for(papers: list[str]) -> str:
    """The BibTeX entries of ``papers``, separated by a blank line."""
    return "\n\n".join(PAPER_BIBTEX[paper] for paper in papers)


__all__ = ["PAPER_BIBTEX", "PAPER_TITLES", "bibtex_for", "papers_for"]
