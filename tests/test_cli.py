"""One command-line style (issue #21): spellings, aliases, config files, one-line errors, a light parser."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import textwrap
import warnings

import pytest

from wav2vec_hf import cli
from wav2vec_hf.cli_options import dashed, underscored
from wav2vec_hf.import_hooks import call_after_import

HEAVY = ("torch", "transformers", "datasets")


def _python(code: str) -> str:
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.strip().splitlines()[-1]


def _parsers() -> dict[str, argparse.ArgumentParser]:
    return cli._command_parsers(cli.build_parser())


def _one_error_line(capsys, prefix: str) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith(prefix), lines[0]
    assert "Traceback" not in err
    return lines[0]


# --- a light parser, and the Auto classes still registered ------------------------------------------


def test_building_the_parser_imports_no_torch_transformers_or_datasets():
    code = (
        "import wav2vec_hf.cli, sys; wav2vec_hf.cli.build_parser(); "
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    )
    assert _python(code) == "[]"


@pytest.mark.parametrize("transformers_first", [False, True])
def test_import_wav2vec_hf_registers_the_auto_classes(transformers_first):
    first = "import transformers, wav2vec_hf" if transformers_first else "import wav2vec_hf"
    code = (
        f"{first}\n"
        "from transformers import AutoConfig, AutoModelForCTC\n"
        "from transformers.pipelines import PIPELINE_REGISTRY\n"
        "from wav2vec_hf.models.wav2vec import VQWav2VecConfig, Wav2VecForCTC\n"
        "mapped = AutoModelForCTC._model_mapping[VQWav2VecConfig].__name__\n"
        "impl = PIPELINE_REGISTRY.supported_tasks['automatic-speech-recognition']['impl']\n"
        "print(type(AutoConfig.for_model('wav2vec')).__name__, mapped, impl.rsplit('.', 1)[-1])\n"
    )
    assert _python(code) == "Wav2VecConfig VQWav2VecForCTC RoutedSpeechRecognitionPipeline"


def test_registration_waits_for_the_model_package_that_imports_transformers():
    """``models.wav2vec`` is the first to import transformers: registering waits until it is complete."""
    code = (
        "import warnings; warnings.simplefilter('error')\n"
        "import sys, wav2vec_hf\n"
        "from wav2vec_hf.models.wav2vec import Wav2VecConfig\n"
        "from transformers import AutoConfig\n"
        "import transformers\n"
        "hooks = [f for f in sys.meta_path if type(f).__module__ == 'wav2vec_hf.import_hooks']\n"
        "print(type(AutoConfig.for_model('wav2vec')).__name__, len(hooks), "
        "type(transformers.__spec__.loader).__name__)\n"
    )
    assert _python(code) == "Wav2VecConfig 0 SourceFileLoader"


@pytest.fixture
def fake_package(tmp_path, monkeypatch):
    """A module ``hooked_target`` importable from ``tmp_path``, not yet imported."""
    (tmp_path / "hooked_target.py").write_text("VALUE = 42\n")
    (tmp_path / "hooked_other.py").write_text("VALUE = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in ("hooked_target", "hooked_other"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    before = list(sys.meta_path)
    yield tmp_path
    sys.meta_path[:] = before


def test_call_after_import_runs_once_right_after_the_target_and_cleans_up(fake_package):
    calls = []

    def register():
        calls.append(sys.modules["hooked_target"].VALUE)  # the module is complete when this runs

    call_after_import("hooked_target", register)
    assert calls == []
    import hooked_other  # noqa: F401  another module: untouched

    assert calls == []
    import hooked_target

    assert calls == [42]
    assert type(hooked_target.__spec__.loader).__name__ == "SourceFileLoader"  # the real loader is back
    assert not any(getattr(f, "target", None) == "hooked_target" for f in sys.meta_path)  # removed itself
    call_after_import("hooked_target", register)  # already imported: at once
    assert calls == [42, 42]


def test_a_failing_registration_is_a_warning_not_a_broken_import(fake_package):
    def broken():
        raise RuntimeError("boom")

    call_after_import("hooked_target", broken)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        import hooked_target
    assert hooked_target.VALUE == 42
    assert any("boom" in str(w.message) for w in caught)


# --- spellings and aliases ---------------------------------------------------------------------------


def test_every_option_takes_underscores_and_dashes_and_help_shows_underscores():
    for name, parser in _parsers().items():
        if getattr(parser, "parses_own_options", False):
            continue
        for action in parser._actions:
            if not action.option_strings or isinstance(action, argparse._HelpAction):
                continue
            for option in action.option_strings:
                assert option == underscored(option), (name, option)
                assert parser._option_string_actions[dashed(option)] is action, (name, option)
        text = parser.format_help()
        assert "--config FILE" in text, name
        for action in parser._actions:
            for option in action.option_strings:
                if "_" in option:
                    assert f"{dashed(option)} " not in text, (name, option)  # dashed spellings hidden


@pytest.mark.parametrize(
    ("argv", "dest", "value"),
    [
        (["build-lm", "--text", "t", "--out", "o"], "output_dir", "o"),
        (["build-lm", "--text", "t", "--output-dir", "o"], "output_dir", "o"),
        (["convert-fairseq", "--checkpoint", "c.pt", "--output", "o"], "output_dir", "o"),
        (["convert-fairseq", "--checkpoint", "c.pt", "--output_dir", "o", "--trust-pickle"], "trust_pickle", True),
        (["corpus", "--out", "o", "--dev-minutes", "1"], "dev_minutes", 1.0),
        (["demo", "--output-dir", "o"], "output_dir", "o"),
        (["demo", "--no-claim-check"], "check_claim", False),
        (["evaluate", "--model", "m", "--data", "a", "b"], "eval", ["a", "b"]),
        (["train-lm", "--text", "t", "--out", "o"], "output_dir", "o"),
        (["tune-lm", "--model", "m", "--eval", "d", "--beam-width", "4"], "beam_width", 4),
        (["push-to-hub", "DIR", "--repo-id", "o/x", "--dry-run", "--output", "o"], "output_dir", "o"),
        (["push-to-hub", "--model", "DIR", "--repo_id", "o/x", "--no-self-trained"], "self_trained", False),
        (["push-to-hub", "--model", "DIR", "--repo_id", "o/x", "--no_self_trained"], "self_trained", False),
        (["push-to-hub", "--model", "DIR", "--repo_id", "o/x", "--self_trained"], "self_trained", True),
        (["transcribe", "DIR", "a.wav", "--no-progress"], "files", ["DIR", "a.wav"]),
    ],
)  # fmt: skip
def test_old_spellings_keep_working(argv, dest, value):
    assert getattr(cli.build_parser().parse_args(argv), dest) == value


def test_self_train_takes_the_canonical_and_the_old_names():
    data = ["--labeled", "l", "--unlabeled", "u", "--lm-text", "t"]
    old = cli.build_parser().parse_args(
        ["self-train", "--pretrained", "p", "--dev", "d", "--output-dir", "o", *data]
    )
    new = cli.build_parser().parse_args(
        ["self-train", "--model", "p", "--eval", "d", "--output_dir", "o", *data]
    )
    assert vars(old) == vars(new)
    assert (new.pretrained, new.dev, new.output_dir, new.lm_text) == ("p", "d", "o", ["t"])


@pytest.mark.parametrize(
    ("argv", "model", "files"),
    [
        (["DIR", "a.wav", "b.wav"], "DIR", ["a.wav", "b.wav"]),
        (["--model", "DIR", "a.wav", "b.wav"], "DIR", ["a.wav", "b.wav"]),
        (["a.wav", "--model", "DIR"], "DIR", ["a.wav"]),
        ([], None, []),
    ],
)
def test_transcribe_takes_the_model_as_a_flag_or_first(argv, model, files):
    from wav2vec_hf.commands.transcribe import model_and_files

    assert model_and_files(cli.build_parser().parse_args(["transcribe", *argv])) == (model, files)


def test_help_lists_old_names_as_aliases():
    text = _parsers()["evaluate"].format_help()
    assert "--eval EVAL" in text and "(alias: --data)" in text
    assert "--beam_width" in text and "--beam-width" not in text


# --- config files --------------------------------------------------------------------------------


def test_a_yaml_config_gives_defaults_and_the_command_line_wins(tmp_path):
    config = tmp_path / "eval.yaml"
    config.write_text("model: m\ndata: [a.tsv, b.tsv]\nbeam-width: 8\nno_lm: true\n")
    args = cli.build_parser().parse_args(["evaluate", str(config), "--beam_width", "16"])
    assert (args.model, args.eval, args.no_lm, args.beam_width) == ("m", ["a.tsv", "b.tsv"], True, 16)
    args = cli.build_parser().parse_args(["evaluate", "--config", str(config), "--eval", "c.tsv"])
    assert (args.eval, args.beam_width) == (["c.tsv"], 8)


def test_a_json_config_with_sections_lists_and_positionals(tmp_path):
    config = tmp_path / "run.json"
    settings = {
        "data": {"model": "p", "labeled": "l", "unlabeled": "u", "dev": "d", "lm_text": "t.txt", "output_dir": "o"},
        "recipe": {"lm_alphas": "0,0.5", "no_rescore": True, "rounds": 2},
    }  # fmt: skip
    config.write_text(json.dumps(settings))
    args = cli.build_parser().parse_args(["self-train", str(config), "--rounds", "3"])
    assert (args.pretrained, args.dev, args.lm_text, args.lm_alphas) == ("p", "d", ["t.txt"], (0.0, 0.5))
    assert (args.no_rescore, args.rounds) == (True, 3)
    files = tmp_path / "files.yml"
    files.write_text("model: m\nfiles: [x.wav, y.wav]\nbatch_size: 4\n")
    args = cli.build_parser().parse_args(["transcribe", str(files)])
    assert (args.model, args.files, args.batch_size) == ("m", ["x.wav", "y.wav"], 4)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("nosuch: 1\n", "nosuch: no such option of wav2vec-hf evaluate"),
        ("beam_width: [1, 2]\n", "beam_width: --beam_width takes one value"),
        ("no_lm: maybe\n", "no_lm: --no_lm is a flag: give true or false"),
        ("- a\n", "the file must hold a mapping"),
        ("model: [\n", "not valid YAML"),
    ],
)
def test_a_bad_config_file_is_one_line_naming_the_file(tmp_path, capsys, content, expected):
    config = tmp_path / "bad.yaml"
    config.write_text(content)
    with pytest.raises(SystemExit) as exited:
        cli.main(["evaluate", str(config), "--model", "m", "--eval", "x"])
    assert exited.value.code == 2
    line = _one_error_line(capsys, f"wav2vec-hf evaluate: error: {config}")
    assert expected in line


def test_finetune_reads_a_transformers_style_args_json(tmp_path):
    from wav2vec_hf.commands import finetune

    config = tmp_path / "args.json"
    settings = {"model": "wav2vec2-tiny", "train": "t.tsv", "output_dir": str(tmp_path / "o"), "max_steps": 5}
    config.write_text(json.dumps({**settings, "group_by_length": False, "report_to": "none"}))
    model, data, recipe, training = finetune.parse([str(config), "--max-steps", "7"]).arguments
    assert (model.model, data.train, training.max_steps, recipe.group_by_length) == (
        "wav2vec2-tiny",
        "t.tsv",
        7,
        False,
    )


def test_pretrain_reads_a_config_given_first(tmp_path):
    from wav2vec_hf.commands import pretrain

    config = tmp_path / "run.yaml"
    config.write_text(
        textwrap.dedent("""\
            model_type: wav2vec2
            preset: wav2vec2-tiny
            train: x.tsv
            training:
              output_dir: o
              max_steps: 3
        """)
    )
    resolved = pretrain.parse([str(config), "--max_steps", "4"])
    assert (resolved.model.preset, resolved.training.output_dir, resolved.training.max_steps) == (
        "wav2vec2-tiny",
        "o",
        4,
    )


# --- help and one-line errors --------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["pretrain", "finetune"])
def test_help_of_the_hf_argument_commands_names_the_command(command, capsys):
    with pytest.raises(SystemExit) as exited:
        cli.main([command, "--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: wav2vec-hf {command} ")
    assert "--output_dir OUTPUT_DIR" in out and "--output-dir OUTPUT_DIR" not in out


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["pretrain", "--model_type", "wav2vec2", "--preset", "nope", "--train", "x", "--output_dir", "o"],
         "wav2vec-hf pretrain: error: --preset 'nope': no such preset"),
        (["pretrain", "--bogus", "1"], "wav2vec-hf pretrain: error: unrecognised arguments: --bogus 1"),
        (["finetune", "--model", "m", "--train", "t", "--recipe", "nope"], "wav2vec-hf finetune: error: unknown recipe 'nope'"),
        (["finetune", "--model", "m", "--train", "t", "--max_steps", "x"],
         "wav2vec-hf finetune: error: argument --max_steps: invalid int value: 'x'"),
        (["evaluate", "--model", "m", "--eval", "e", "--beam-width", "x"],
         "wav2vec-hf evaluate: error: argument --beam_width: invalid int value: 'x'"),
        (["demo", "--scale", "huge"], "wav2vec-hf demo: error: argument --scale: invalid choice: 'huge'"),
        (["tune-lm", "--eval", "d"], "wav2vec-hf tune-lm: error: the following arguments are required: --model"),
        (["transcribe", "--no-progress"], "wav2vec-hf transcribe: error: no model: give --model DIR"),
        (["push-to-hub", "--repo_id", "o/x"], "wav2vec-hf push-to-hub: error: no model folder"),
    ],
)  # fmt: skip
def test_user_errors_exit_2_with_one_line(argv, expected, capsys):
    try:
        code = cli.main(argv)
    except SystemExit as exited:
        code = exited.code
    assert code == 2
    _one_error_line(capsys, expected)
