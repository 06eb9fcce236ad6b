"""How data sources are named in run records and cards: a Hub id only for data that came from the Hub."""

from __future__ import annotations

import datasets
from datasets import Dataset, DatasetDict, DatasetInfo

from wav2vec_hf.data.references import DatasetReference, dataset_reference, describe_source


def _hub_like(tmp_path, namespace_folder: str) -> Dataset:
    """A dataset as ``load_dataset("openslr/librispeech_asr", "clean")`` leaves it: its info and its
    cache files in ``datasets``' per-dataset folder (``namespace_folder``)."""
    info = DatasetInfo(dataset_name="librispeech_asr", config_name="clean", builder_name="parquet")
    dataset = Dataset.from_dict({"text": ["A", "B"]}, info=info, split="validation")
    folder = tmp_path / namespace_folder / "clean" / "0.0.0" / "0123abcd"
    folder.mkdir(parents=True)
    datasets.disable_progress_bars()
    try:
        return dataset.map(lambda row: row, cache_file_name=str(folder / "librispeech_asr-validation.arrow"))
    finally:
        datasets.enable_progress_bars()


def test_local_paths_are_named_by_their_file_or_folder_and_have_no_hub_id(tmp_path):
    assert dataset_reference("runs/demo/corpus/dev.tsv") == DatasetReference(name="dev.tsv")
    assert dataset_reference(tmp_path / "my_corpus", "train") == DatasetReference(
        name="my_corpus", split="train"
    )
    # even a relative path that looks like org/name is a local path: the package opens paths locally
    assert dataset_reference("librispeech/dev").hub_id is None


def test_a_dataset_from_the_hub_gives_its_hub_id_config_and_split(tmp_path):
    dataset = _hub_like(tmp_path, "openslr___librispeech_asr")
    reference = dataset_reference(dataset)
    assert reference == DatasetReference(
        name="openslr/librispeech_asr", hub_id="openslr/librispeech_asr", config="clean", split="validation"
    )
    picked = dataset_reference(DatasetDict({"validation": dataset, "train": dataset}), "validation")
    assert picked.hub_id == "openslr/librispeech_asr" and picked.split == "validation"
    assert DatasetReference.from_dict(reference.to_dict()) == reference


def test_local_and_in_memory_datasets_are_described_never_by_their_repr(tmp_path):
    in_memory = Dataset.from_dict({"audio": ["a.wav", "b.wav", "c.wav"], "text": ["A", "B", "C"]})
    reference = dataset_reference(in_memory)
    assert reference == DatasetReference(name="in-memory dataset (3 rows)")
    assert describe_source(in_memory) == "in-memory dataset (3 rows)"
    assert "Dataset(" not in reference.name and "features" not in reference.name
    # datasets' info names it, but its cache is a local build (no org___name folder): no Hub id
    local_build = _hub_like(tmp_path, "librispeech_asr")
    assert dataset_reference(local_build) == DatasetReference(
        name="librispeech_asr dataset (2 rows)", split="validation"
    )
    assert describe_source("data/dev.tsv") == "data/dev.tsv" and describe_source(None) is None
