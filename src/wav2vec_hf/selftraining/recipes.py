"""Moved to ``wav2vec_hf.recipes.self_training`` (the recipes layer); this name stays as a command alias.

``python -m wav2vec_hf.selftraining.recipes ARGS`` runs ``python -m wav2vec_hf.recipes.self_training ARGS``.
Importing this module imports nothing: the library does not depend on its recipes.
"""

if __name__ == "__main__":
    import runpy

    runpy.run_module("wav2vec_hf.recipes.self_training", run_name="__main__", alter_sys=True)
