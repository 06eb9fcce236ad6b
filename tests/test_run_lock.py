"""One run per output folder: the run lock of pretrain / finetune / self-train / demo / build-lm."""

import json
import multiprocessing
import os
import socket
import subprocess
import sys

import pytest

from wav2vec_hf import cli
from wav2vec_hf.run_lock import (
    LOCK_NAME,
    RunLockError,
    acquire_run_lock,
    hold_run_lock,
    read_lock,
    release_run_lock,
)


@pytest.fixture
def other_run(tmp_path):
    """A live process of this host that "owns" a lock on ``tmp_path / 'out'`` (with a file of its run)."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / "metrics.jsonl").write_text('{"update": 10}\n')
    record = {
        "pid": process.pid,
        "host": socket.gethostname(),
        "command": "wav2vec-hf finetune --output_dir out --seed 0",
        "started": "2024-05-01T10:00:00+00:00",
        "token": "first-run",
    }
    (folder / LOCK_NAME).write_text(json.dumps(record))
    yield folder, process
    process.kill()
    process.wait()


def _untouched(folder) -> bool:
    return (folder / "metrics.jsonl").read_text() == '{"update": 10}\n' and json.loads(
        (folder / LOCK_NAME).read_text()
    )["token"] == "first-run"


def _one_error_line(err: str, pid: int) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert f"pid {pid}@{socket.gethostname()}" in lines[0] and "since 2024-05-01" in lines[0]
    assert "in use by another run" in lines[0] and "choose another output folder" in lines[0]
    return lines[0]


def test_second_finetune_in_a_busy_folder_is_refused_and_touches_nothing(other_run, tmp_path, capsys):
    folder, process = other_run
    rc = cli.main(
        [
            "finetune",
            "--model",
            "wav2vec2-tiny",
            "--train",
            str(tmp_path / "t.tsv"),
            "--output_dir",
            str(folder),
        ]
    )
    assert rc == 2
    line = _one_error_line(capsys.readouterr().err, process.pid)
    assert line.startswith("wav2vec-hf finetune: error: output folder")
    assert _untouched(folder)


def test_second_pretrain_in_a_busy_folder_is_refused_and_touches_nothing(other_run, tmp_path, capsys):
    folder, process = other_run
    train = tmp_path / "train.tsv"
    train.write_text(f"{tmp_path}\n")
    argv = ["--model_type", "wav2vec2", "--preset", "wav2vec2-tiny", "--train", str(train)]
    rc = cli.main(["pretrain", *argv, "--output_dir", str(folder), "--max_steps", "3"])
    assert rc == 2
    assert _one_error_line(capsys.readouterr().err, process.pid).startswith(
        "wav2vec-hf pretrain: error: output folder"
    )
    assert _untouched(folder)


@pytest.mark.parametrize("command", ["demo", "build-lm", "self-train"])
def test_other_commands_refuse_a_busy_folder(other_run, tmp_path, capsys, command):
    folder, process = other_run
    text = tmp_path / "lm.txt"
    text.write_text("HELLO WORLD\n")
    data = ["--labeled", "l.tsv", "--unlabeled", "u.tsv", "--dev", "d.tsv", "--lm-text", str(text)]
    argv = {
        "demo": ["demo", "--output-dir", str(folder)],
        "build-lm": ["build-lm", "--text", str(text), "--out", str(folder)],
        "self-train": ["self-train", "--pretrained", "wav2vec2-tiny", *data, "--output-dir", str(folder)],
    }[command]
    assert cli.main(argv) == 2
    _one_error_line(capsys.readouterr().err, process.pid)
    assert _untouched(folder)


def test_lock_is_removed_at_exit_also_on_error_and_the_folder_is_usable_again(tmp_path, capsys):
    folder = tmp_path / "out"
    missing = tmp_path / "missing.tsv"
    argv = ["finetune", "--model", "wav2vec2-tiny", "--train", str(missing), "--output_dir", str(folder)]
    assert cli.main(argv) == 2  # fails inside the run (no such training data)
    assert "missing.tsv" in capsys.readouterr().err
    assert not (folder / LOCK_NAME).exists()
    with hold_run_lock(folder) as lock:  # the next run (e.g. --resume) gets the folder
        owner = read_lock(folder)
        assert owner.pid == os.getpid() and owner.host == socket.gethostname() and owner.token == lock.token
        assert owner.command and owner.started
    assert not (folder / LOCK_NAME).exists()


def test_stale_lock_of_a_dead_process_is_reported_and_taken_over(tmp_path, capsys):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # its pid is no longer alive (kill -9 leaves such a lock behind)
    folder = tmp_path / "out"
    folder.mkdir()
    record = {"pid": dead.pid, "host": socket.gethostname(), "started": "2024-05-01T10:00:00+00:00"}
    (folder / LOCK_NAME).write_text(json.dumps(record))
    with hold_run_lock(folder, prog="wav2vec-hf finetune"):
        assert read_lock(folder).pid == os.getpid()
    err = capsys.readouterr().err
    assert f"no longer running (pid {dead.pid}@{socket.gethostname()}" in err and "taking it over" in err
    assert not (folder / LOCK_NAME).exists()


def test_lock_of_a_reused_pid_is_stale(tmp_path):
    folder = tmp_path / "out"
    folder.mkdir()
    # this process's pid, but recorded for a process that started at another time: a reused pid
    record = {"pid": os.getpid(), "host": socket.gethostname(), "process_start": 1, "token": "old"}
    (folder / LOCK_NAME).write_text(json.dumps(record))
    if not os.path.exists(f"/proc/{os.getpid()}/stat"):
        pytest.skip("no /proc")
    lock = acquire_run_lock(folder)
    assert lock.took_over is not None and read_lock(folder).token == lock.token
    release_run_lock(lock)


def test_lock_from_another_host_is_not_taken_over_and_names_the_file_to_delete(tmp_path):
    folder = tmp_path / "out"
    folder.mkdir()
    record = {"pid": 1, "host": "some-other-host", "started": "2024-05-01T10:00:00+00:00"}
    (folder / LOCK_NAME).write_text(json.dumps(record))
    with pytest.raises(RunLockError, match=r"pid 1@some-other-host.*if that run is over, delete .*lock"):
        acquire_run_lock(folder)


def test_non_main_ranks_take_no_lock(tmp_path, monkeypatch, other_run):
    folder, _ = other_run
    monkeypatch.setenv("RANK", "1")
    lock = acquire_run_lock(folder)  # rank 1 of the run that holds the folder: not refused
    assert lock.path is None
    release_run_lock(lock)
    assert _untouched(folder)
    monkeypatch.setenv("RANK", "0")
    with pytest.raises(RunLockError):
        acquire_run_lock(folder)


def test_nested_lock_in_one_process_is_allowed(tmp_path):
    with hold_run_lock(tmp_path / "out") as outer, hold_run_lock(tmp_path / "out") as inner:
        assert inner.token == outer.token
    assert not (tmp_path / "out" / LOCK_NAME).exists()


def _try_lock(folder, barrier, done, results):
    barrier.wait()
    try:
        lock = acquire_run_lock(folder)
    except RunLockError:
        results.put("refused")
        return
    results.put("locked")
    done.wait(30)  # hold it until every other process has tried
    release_run_lock(lock)


def test_concurrent_runs_exactly_one_gets_the_folder(tmp_path):
    context = multiprocessing.get_context("fork")
    barrier, done, results = context.Barrier(4), context.Event(), context.Queue()
    processes = [
        context.Process(target=_try_lock, args=(tmp_path / "out", barrier, done, results)) for _ in range(4)
    ]
    for process in processes:
        process.start()
    outcomes = [results.get(timeout=30) for _ in processes]
    done.set()
    for process in processes:
        process.join(timeout=30)
    assert sorted(outcomes) == ["locked", "refused", "refused", "refused"]
    assert not (tmp_path / "out" / LOCK_NAME).exists()
