# Two entry points: `make demo` (set up, then run the main job) and `make test` (set up, then test).
VENV ?= $(if $(VIRTUAL_ENV),$(VIRTUAL_ENV),.venv)
PY := $(VENV)/bin/python
OFFLINE := HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1

.PHONY: setup demo test lint
setup: $(VENV)/.wav2vec_hf_installed

$(VENV)/.wav2vec_hf_installed: pyproject.toml scripts/setup.sh
	bash scripts/setup.sh

demo: setup
	$(OFFLINE) $(PY) -m wav2vec_hf.cli demo --output_dir runs/demo $(ARGS)

lint: setup
	$(PY) -m ruff check .

test: lint
	$(OFFLINE) $(PY) -m pytest $(ARGS)
