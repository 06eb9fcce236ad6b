"""The pretraining loop: plain PyTorch, with Accelerate for prepare / backward / reduce / save_state.

One update, as fairseq does it::

    set the learning rate and the Gumbel temperature of update u (pure functions of u)
    for each of update_freq micro-batches (no gradient sync but for the last):
        loss = task.step(model, batch).loss          # mixed precision from Accelerate
        accelerator.backward(loss / update_freq)
    norm = accelerator.clip_grad_norm_(...)          # clipping (or just the norm)
    NaN/inf norm -> skip the update and count it (fp16: the GradScaler skips and lowers its scale)
    else optimizer.step(); u += 1
    metrics averaged over micro-batches and processes -> trackers, metrics.jsonl, tqdm, health

Distribution (DDP, FSDP, DeepSpeed), mixed precision and the process count come from
``accelerate launch`` / ``accelerate config``; nothing here is specific to one of them. Each
process reads its own share of the batches (``LengthBatchSampler(num_replicas, rank)``).

Outputs under ``OUTPUT``: ``checkpoints/update-N`` (atomic ``save_state``, last K kept),
``metrics.jsonl`` (one record per update and per validation), ``runs/`` (tensorboard),
``plots/curves.png``, ``health.json``, ``pretraining_summary.json``, ``run_config.json`` and, at the
end, the ``save_pretrained`` export (model + feature extractor config + ``pretraining_state.json``,
from which ``--init_from`` continues) in ``OUTPUT`` itself
(on request also in ``exports/update-N``: touch ``OUTPUT/EXPORT`` or pass ``--export_steps``).

Resume (``--resume``) restores the model, optimizer, GradScaler, every process's RNG states, the
update count and each process's data position, so the continued run computes exactly the updates
the uninterrupted run would have (same process count required).
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from wav2vec_hf.data import SkipReport
from wav2vec_hf.data.bad_files import BAD_FILES_NAME, bad_files_summary, write_bad_files
from wav2vec_hf.extras import install_command, missing_modules
from wav2vec_hf.hardware import hardware_record
from wav2vec_hf.json_files import write_json
from wav2vec_hf.pretraining.arguments import PretrainingConfig
from wav2vec_hf.pretraining.checkpointing import (
    check_random_states,
    checkpoint_root,
    latest_checkpoint,
    list_checkpoints,
    read_trainer_state,
    remove_partial_checkpoints,
    save_checkpoint,
)
from wav2vec_hf.pretraining.data import BatchStream, loader_workers
from wav2vec_hf.pretraining.health import HEALTH_FILE, HealthMonitor, TrainingDivergedError
from wav2vec_hf.pretraining.plots import plot_curves, read_metrics
from wav2vec_hf.pretraining.run_summary import SUMMARY_FILE, PretrainingResult, summary_record
from wav2vec_hf.pretraining.schedules import LearningRateSchedule
from wav2vec_hf.pretraining.task_registry import make_task
from wav2vec_hf.pretraining.tasks import PretrainingTask, StepOutput

logger = logging.getLogger(__name__)

METRICS_FILE = "metrics.jsonl"
EXPORT_REQUEST = "EXPORT"


def make_accelerator(config: PretrainingConfig):
    """The run's ``Accelerator``: mixed precision (unless accelerate config sets it), trackers, logging dir."""
    from accelerate import Accelerator
    from accelerate.utils import DistributedDataParallelKwargs, ProjectConfiguration

    training = config.training
    report_to = [item.strip() for item in training.report_to.split(",") if item.strip()]
    if "tensorboard" in report_to and missing_modules("tensorboard"):
        # Accelerate would drop it silently; metrics.jsonl still has every number.
        logger.warning(
            "tensorboard is not installed: no tensorboard logs (metrics.jsonl has every number); "
            "install it with %s, or pass --report_to none",
            install_command("tensorboard"),
        )
        report_to = [item for item in report_to if item != "tensorboard"] or ["none"]
    log_with = None if report_to in ([], ["none"]) else ("all" if report_to == ["all"] else report_to)
    options = {}
    if training.mixed_precision is not None:
        options["mixed_precision"] = training.mixed_precision
    return Accelerator(
        log_with=log_with,
        project_config=ProjectConfiguration(
            project_dir=training.output_dir, logging_dir=str(Path(training.output_dir) / "runs")
        ),
        # Every parameter takes part in every step (LayerDrop is a gate in the objective), so DDP
        # needs no unused-parameter search.
        kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=False)],
        **options,
    )


def run_pretraining(
    config: PretrainingConfig, accelerator=None, *, export_publisher: Callable | None = None
) -> PretrainingResult:
    """Run (or resume) a pretraining run described by ``config``; see the module docstring.

    ``export_publisher``: ``training -> publisher or None``, called on the main process when
    ``--push_to_hub`` is set; the publisher's ``submit(folder, update)`` gets every export and its
    ``finish()`` (its results, printed) ends the run. The ``pretrain`` command passes
    ``wav2vec_hf.hub.export_publisher.publisher_for``; the loop itself knows no Hub.

    Under several processes the process group stays up afterwards (the caller may go on with it);
    a script that ends there calls ``wav2vec_hf.process_group.release_process_group()``, as the
    ``pretrain`` command does, or a process may abort at exit.
    """
    from accelerate.utils import set_seed

    training = config.training
    recipe = config.recipe
    output_dir = Path(training.output_dir)
    accelerator = accelerator or make_accelerator(config)
    main = accelerator.is_main_process
    root = checkpoint_root(output_dir)

    resume_from = _checkpoint_to_resume(config, root)
    if main:
        output_dir.mkdir(parents=True, exist_ok=True)
        removed = remove_partial_checkpoints(root)
        for path in removed:
            logger.info("removed the partial checkpoint %s left by a killed run", path)
        write_json(output_dir / "run_config.json", config.to_dict())
    accelerator.wait_for_everyone()
    if training.push_to_hub and export_publisher is None:
        raise ValueError(
            "--push_to_hub: run_pretraining has no publisher for the exports; pass "
            "export_publisher=wav2vec_hf.hub.export_publisher.publisher_for (the pretrain command does)"
        )
    publisher = export_publisher(training) if main and training.push_to_hub else None
    draw_plots = training.plots and not missing_modules("plots")
    if main and training.plots and not draw_plots:  # said now, not after hours of training
        logger.warning(
            "matplotlib is not installed: no plots/curves.png at the end; install it with %s, "
            "or pass --plots false",
            install_command("plots"),
        )

    # The same seed everywhere for the initial weights; per-process seeds for masks and dropout below.
    set_seed(training.seed)
    task = make_task(config, accelerator)
    module = task.build_module()
    optimizer = torch.optim.AdamW(
        module.parameters(),
        lr=recipe.learning_rate,
        betas=tuple(recipe.adam_betas),
        eps=recipe.adam_epsilon,
        weight_decay=recipe.weight_decay,
    )
    module, optimizer = accelerator.prepare(module, optimizer)
    forward_module = torch.compile(module) if training.compile else module
    set_seed(training.seed, device_specific=True)

    if training.export_only:
        return _export_only(accelerator, task, module, resume_from or latest_checkpoint(root), output_dir)

    train_data, valid_data = _build_data(accelerator, task, output_dir)
    # Every bad file goes to a table; the screen gets counts by reason and a few examples.
    data_reports = train_data.reports + (valid_data.reports if valid_data else [])
    bad_files = output_dir / BAD_FILES_NAME if any(r.failed_count for r in data_reports) else None
    if main and bad_files is not None:
        write_bad_files(bad_files, data_reports)
        accelerator.print(bad_files_summary(data_reports, bad_files))
    schedule = LearningRateSchedule(
        peak_lr=recipe.learning_rate,
        total_steps=recipe.max_steps,
        warmup_steps=config.warmup_steps,
        kind=recipe.lr_scheduler,
        warmup_init_lr=recipe.warmup_init_lr,
        end_lr=recipe.end_learning_rate,
    )
    spec = task.health_spec()
    monitor = HealthMonitor(
        spec,
        max_steps=recipe.max_steps,
        patience=training.health_patience,
        max_nonfinite=training.max_nonfinite_updates,
    )
    stream = train_data.training_batches(
        num_workers=loader_workers(config.data.num_workers, accelerator.device),
        pin_memory=accelerator.device.type == "cuda",
    )
    load_skips = SkipReport(source=f"{config.data.train} (while loading)")
    # --init_from a folder with pretraining_state.json: its update count (the schedules go on from there).
    state = {"update": config.start_update, "elapsed_seconds": 0.0, "audio_seconds": 0.0, "first_valid": None}

    if resume_from is not None:
        state.update(_restore(accelerator, resume_from, stream, monitor))
        if main:
            _truncate_metrics(output_dir / METRICS_FILE, state["update"])
        accelerator.print(f"resumed from {resume_from} at update {state['update']}")
    elif main and (output_dir / METRICS_FILE).exists():
        (output_dir / METRICS_FILE).unlink()  # a fresh run in a folder without checkpoints
    if resume_from is None and config.start_update:
        accelerator.print(
            f"continuing {config.model.init_from} from its update {config.start_update} "
            f"(schedules as in {config.init_state}) to update {recipe.max_steps}"
        )

    if accelerator.log_with:
        accelerator.init_trackers("pretraining", config=_tracker_config(config))
    # Kept open for the whole loop (one line per update) and closed in the ``finally`` below.
    metrics_log = open(output_dir / METRICS_FILE, "a", encoding="utf-8") if main else None  # noqa: SIM115
    progress = _progress_bar(accelerator, training, recipe.max_steps, state["update"])

    def log(record: dict) -> None:
        if metrics_log is not None:
            metrics_log.write(json.dumps(record) + "\n")
            metrics_log.flush()
        values = {f"{record['split']}/{k}": v for k, v in record.items() if isinstance(v, (int, float))}
        if accelerator.log_with:
            accelerator.log(values, step=record["update"])

    def validate() -> dict | None:
        if valid_data is None:
            return None
        metrics = evaluate(
            accelerator, module, task, valid_data, training.seed, config.data.max_valid_batches
        )
        record = {"split": "valid", "update": state["update"], **metrics}
        log(record)
        state["first_valid"] = state["first_valid"] or record
        return record

    device = accelerator.device
    batches = iter(stream)
    interrupted = False
    updates_this_run = 0
    last_saved = state["update"] if resume_from is not None else -1
    last_train: dict = {}
    last_valid = None
    started = time.perf_counter()
    try:
        if resume_from is None:
            last_valid = validate()
        while state["update"] < recipe.max_steps:
            update = state["update"]
            tick = time.perf_counter()
            values = task.set_update(accelerator.unwrap_model(module), update)
            learning_rate = schedule.learning_rate(update)
            for group in optimizer.param_groups:
                group["lr"] = learning_rate

            outputs, tokens = [], 0.0
            for micro in range(recipe.update_freq):
                batch = _next_nonempty(batches, load_skips)
                inputs, batch_tokens = task.to_device(batch, device)
                tokens += batch_tokens
                last_micro = micro == recipe.update_freq - 1
                with contextlib.nullcontext() if last_micro else accelerator.no_sync(module):
                    out = task.step(forward_module, inputs)
                    accelerator.backward(out.loss / recipe.update_freq)
                outputs.append(StepOutput(out.loss.detach(), out.metrics, out.weight))

            max_norm = recipe.max_grad_norm if recipe.max_grad_norm > 0 else math.inf
            grad_norm = accelerator.clip_grad_norm_(module.parameters(), max_norm)
            group_norms = (
                _group_grad_norms(task, accelerator.unwrap_model(module))
                if training.log_module_grad_norms
                else {}
            )
            # The update's one host read: metrics, token count and gradient norms come back together.
            readout = _read_update(accelerator, outputs, tokens, grad_norm, group_norms)
            finite = math.isfinite(readout.grad_norm) if grad_norm is not None else True
            if accelerator.scaler is not None:  # fp16: the GradScaler decides, and lowers its scale
                optimizer.step()
                skipped = accelerator.optimizer_step_was_skipped or not finite
            elif finite:
                optimizer.step()
                skipped = False
            else:
                skipped = True
            optimizer.zero_grad(set_to_none=True)

            metrics, total_tokens = readout.metrics, readout.tokens
            seconds = time.perf_counter() - tick
            if skipped:
                monitor.record_nonfinite(update)
                log({"split": "skipped", "update": update, "nonfinite_updates": monitor.nonfinite_total})
                continue
            monitor.record_finite()
            state["update"] = update + 1
            updates_this_run += 1
            state["audio_seconds"] += total_tokens / task.tokens_per_second
            record = {
                "split": "train",
                "update": state["update"],
                **metrics,
                **values,
                "learning_rate": learning_rate,
                "grad_norm": readout.grad_norm,
                **readout.group_norms,
                "tokens_per_update": total_tokens,
                "epoch": stream.epoch,
                "nonfinite_updates": monitor.nonfinite_total,
            }
            record["audio_seconds_per_second"] = total_tokens / task.tokens_per_second / max(seconds, 1e-9)
            log(record)
            last_train = record
            if monitor.observe(state["update"], metrics) and main:
                write_json(output_dir / HEALTH_FILE, monitor.summary())  # seen while the run goes on
            progress.update(1)
            progress.set_postfix(_postfix(record), refresh=False)

            if training.eval_steps and state["update"] % training.eval_steps == 0:
                last_valid = validate()
            if training.save_steps and state["update"] % training.save_steps == 0:
                _save(accelerator, root, state, stream, monitor, training, started)
                last_saved = state["update"]
            if _export_requested(accelerator, output_dir, training, state["update"]):
                exported = export_model(
                    accelerator,
                    task,
                    module,
                    output_dir / "exports" / f"update-{state['update']:08d}",
                    update=state["update"],
                )
                if publisher is not None:
                    publisher.submit(exported, state["update"])
            if (
                monitor.events
                and training.stop_on_collapse
                and any(e.kind != "nonfinite" for e in monitor.events)
            ):
                accelerator.print("stopping: collapse detected (--stop_on_collapse); see health.json")
                break
            if training.stop_after_steps is not None and updates_this_run >= training.stop_after_steps:
                interrupted = True
                break
        progress.close()
        seconds = time.perf_counter() - started
        export_dir = None
        if not interrupted:
            if valid_data is not None and (last_valid is None or last_valid["update"] != state["update"]):
                last_valid = validate()
            if last_saved != state["update"]:
                _save(accelerator, root, state, stream, monitor, training, started)
            export_dir = export_model(accelerator, task, module, output_dir, update=state["update"])
    except TrainingDivergedError:
        if main:
            write_json(output_dir / HEALTH_FILE, monitor.summary())
        raise
    finally:
        progress.close()
        if metrics_log is not None:
            metrics_log.close()
    skips = _gather_skips(accelerator, [*train_data.reports, load_skips])
    load_failures = _gather_load_failures(accelerator, load_skips)
    if load_failures.failed_count:
        bad_files = output_dir / BAD_FILES_NAME
        if main:
            write_bad_files(bad_files, [*data_reports, load_failures])
    result = PretrainingResult(
        output_dir=output_dir,
        updates=state["update"],
        interrupted=interrupted,
        export_dir=export_dir,
        first_valid=state["first_valid"],
        last_valid=last_valid,
        last_train=last_train,
        health=monitor.summary(),
        data_skips=skips,
        bad_files=bad_files,
        seconds=seconds,
        audio_seconds=state["audio_seconds"],
    )
    if main and not interrupted:
        write_json(output_dir / HEALTH_FILE, result.health)
        hardware = hardware_record(
            accelerator.device.type,
            num_processes=accelerator.num_processes,
            mixed_precision=accelerator.mixed_precision,
        )
        write_json(output_dir / SUMMARY_FILE, summary_record(result, hardware))
        if draw_plots:
            plot_curves(
                read_metrics(output_dir / METRICS_FILE),
                output_dir / "plots" / "curves.png",
                title=f"{config.model.model_type} {config.model.preset or ''}".strip(),
                chance_accuracy=spec.chance_accuracy,
                collapse_perplexity=2 * spec.num_groups if spec.num_groups else None,
            )
        for report in skips:
            if report["skipped"]:  # counts only: examples were shown at the start, the table has all
                counts = ", ".join(f"{reason} {count}" for reason, count in report["counts"].items())
                accelerator.print(f"data skipped: {report['source']}: {report['skipped']} ({counts})")
        if bad_files is not None:
            accelerator.print(f"data: every bad file, with its reason: {bad_files}")
        if publisher is not None:
            publisher.submit(export_dir, state["update"])  # with the run's records and plots
    if publisher is not None:
        for pushed in publisher.finish():
            accelerator.print(f"pushed to {pushed.repo_id}@{pushed.revision}: {pushed.commit_url}")
    if accelerator.log_with:
        accelerator.end_training()
    return result


# --- pieces of the loop ----------------------------------------------------------------------


def _checkpoint_to_resume(config: PretrainingConfig, root: Path) -> Path | None:
    training = config.training
    if training.resume_from:
        path = Path(training.resume_from)
        read_trainer_state(path)  # raises for an incomplete folder
        return path
    if training.resume or training.export_only:
        found = latest_checkpoint(root)
        if found is None and training.resume:
            logger.warning("--resume: no checkpoint in %s yet; starting from update 0", root)
        return found
    if list_checkpoints(root):
        raise FileExistsError(
            f"{root} already holds checkpoints of a run; pass --resume to continue it, or choose another --output_dir."
        )
    return None


def _restore(accelerator, checkpoint: Path, stream: BatchStream, monitor: HealthMonitor) -> dict:
    saved = read_trainer_state(checkpoint)
    problems = check_random_states(checkpoint, accelerator.num_processes)
    if saved.get("num_processes") != accelerator.num_processes:
        problems.append(
            f"saved with {saved.get('num_processes')} processes, resumed with {accelerator.num_processes}"
        )
    if problems:
        logger.warning("resume from %s will not be exact: %s", checkpoint, "; ".join(problems))
    accelerator.load_state(str(checkpoint))
    positions = saved["data_positions"]
    stream.load_state_dict(positions[min(accelerator.process_index, len(positions) - 1)])
    monitor.load_state_dict(saved["health"])
    return {
        "update": int(saved["update"]),
        "elapsed_seconds": float(saved.get("elapsed_seconds", 0.0)),
        "audio_seconds": float(saved.get("audio_seconds", 0.0)),
        "first_valid": saved.get("first_valid"),
    }


def _save(accelerator, root, state, stream, monitor, training, started) -> None:
    from accelerate.utils import gather_object

    positions = gather_object([stream.state_dict()])
    trainer_state = {
        "update": state["update"],
        "data_positions": positions,
        "num_processes": accelerator.num_processes,
        "health": monitor.state_dict(),
        "elapsed_seconds": state["elapsed_seconds"] + time.perf_counter() - started,
        "audio_seconds": state["audio_seconds"],
        "first_valid": state["first_valid"],
        "seed": training.seed,
    }
    save_checkpoint(accelerator, root, state["update"], trainer_state, training.keep_checkpoints)


def _next_nonempty(batches, load_skips: SkipReport) -> dict:
    """The next batch with at least one example (all-skipped batches are counted and passed over)."""
    while True:
        batch = next(batches)
        skipped = batch.get("skipped") or []
        load_skips.seen += len(skipped) + len(batch.get("ids", []))
        load_skips.record_skipped(skipped)
        if batch.get("ids") is None or len(batch["ids"]) > 0:
            return batch


def _weighted_sums(outputs: list, keys: list[str]) -> torch.Tensor:
    """``[sum_b w_b m_b for each metric m] + [sum_b w_b]`` over step outputs (weight 1 when unset)."""
    rows = []
    for out in outputs:
        weight = out.weight if out.weight is not None else torch.ones((), device=out.loss.device)
        weight = weight.detach().float().to(out.loss.device)
        values = torch.stack([out.metrics[k].detach().float().to(weight.device) for k in keys])
        # A micro-batch without predictions (weight 0) must not turn the mean into NaN.
        weighted = torch.where(weight > 0, values * weight, torch.zeros_like(values))
        rows.append(torch.cat([weighted, weight[None]]))
    return torch.stack(rows).sum(0)


def _group_grad_norms(task: PretrainingTask, model) -> dict[str, torch.Tensor]:
    """``grad_norm/<group>``: the L2 norm of each parameter group's gradient (after clipping), on device.

    Under DDP every process holds the same reduced gradient; under FSDP / DeepSpeed each holds a
    shard, so the figures are this process's shard only.
    """
    norms = {}
    for name, parameters in task.parameter_groups(model).items():
        grads = [p.grad.detach().float().norm() for p in parameters if p.grad is not None]
        if grads:
            norms[f"grad_norm/{name}"] = torch.stack(grads).norm()
    return norms


@dataclass(frozen=True)
class UpdateReadout:
    """What the host learns about one update: metric means over micro-batches and processes, the
    tokens of all processes, the (clipped-before) gradient norm (NaN when the backend gives none) and
    the per-group norms."""

    metrics: dict[str, float]
    tokens: float
    grad_norm: float
    group_norms: dict[str, float]


def _read_update(
    accelerator, outputs: list, tokens: float, grad_norm: torch.Tensor | None, group_norms: dict
) -> UpdateReadout:
    """Everything the loop needs from the device after an update, in one collective and one host read.

    The read is the update's only synchronisation with the accelerator: the finite-gradient gate needs
    the norm on the host before ``optimizer.step`` (as fairseq's and torch's GradScaler's gates do), and
    the metrics, token count and group norms travel with it instead of costing a read each.
    """
    keys = sorted(outputs[0].metrics)
    vector = _weighted_sums(outputs, keys)  # (len(keys) + 1,): the weighted sums, then the weight
    shared = accelerator.num_processes > 1
    if shared:  # the host's token count joins the reduction; with one process it never leaves the host
        # (a tensor made from host memory on an accelerator waits for the work queued before it)
        vector = torch.cat([vector, torch.tensor([tokens], dtype=torch.float32, device=vector.device)])
        vector = accelerator.reduce(vector, reduction="sum")
    local = [math.nan if grad_norm is None else grad_norm, *group_norms.values()]  # DeepSpeed: no norm
    local = torch.stack(
        [torch.as_tensor(value).detach().float().reshape(()).to(vector.device) for value in local]
    )
    values = torch.cat([vector, local]).tolist()
    reduced, local_values = values[: len(vector)], values[len(vector) :]
    total_weight = reduced[len(keys)]
    if total_weight <= 0:  # nothing was predicted anywhere: plain means are all there is
        total_weight = 1.0
    return UpdateReadout(
        metrics={key: reduced[i] / total_weight for i, key in enumerate(keys)},
        tokens=reduced[-1] if shared else float(tokens),
        grad_norm=local_values[0],
        group_norms=dict(zip(group_norms, local_values[1:], strict=True)),
    )


def evaluate(
    accelerator, module, task: PretrainingTask, data, seed: int, max_batches: int | None = None
) -> dict:
    """Mean validation metrics over this process's batches, averaged over processes by batch count.

    Runs in eval mode under a forked RNG seeded with ``seed``: the same masks and distractors at every
    evaluation, and the training RNG stream (which checkpoints restore) is left untouched.
    """
    model = accelerator.unwrap_model(module)
    was_training = model.training
    model.eval()
    devices = [accelerator.device] if accelerator.device.type == "cuda" else []
    sums, keys = None, None
    with torch.no_grad(), torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        for batch in task.validation_batches(data, max_batches):
            if batch.get("ids") is not None and len(batch["ids"]) == 0:
                continue
            inputs, _ = task.to_device(batch, accelerator.device)
            out = task.step(model, inputs)
            keys = keys or sorted(out.metrics)
            vector = _weighted_sums([out], keys)
            sums = vector if sums is None else sums + vector
    model.train(was_training)
    keys = keys or []
    if sums is None:
        sums = torch.zeros(len(keys) + 1, device=accelerator.device)
    if accelerator.num_processes > 1:
        sums = accelerator.reduce(sums, reduction="sum")
    values = sums.tolist()
    total_weight = values[-1] if values[-1] > 0 else 1.0
    return {key: values[i] / total_weight for i, key in enumerate(keys)}


def export_model(
    accelerator, task: PretrainingTask, module, directory: Path, update: int | None = None
) -> Path:
    """``save_pretrained`` the model and its feature extractor (tokenizer for units-bert) into ``directory``.

    With ``update`` (the updates done), ``pretraining_state.json`` records it and the recipe that ran
    (``pretraining.pretraining_state``), so ``--init_from directory`` continues the schedules from there.

    Written into a temporary folder first; files are then moved in one by one, so the folder never
    holds a half-written weight file.
    """
    directory = Path(directory)
    state_dict = accelerator.get_state_dict(module)  # gathers FSDP / DeepSpeed shards (every process)
    if accelerator.is_main_process:
        temporary = directory.parent / f".tmp-export-{directory.name}"
        shutil.rmtree(temporary, ignore_errors=True)
        temporary.mkdir(parents=True)
        task.export(accelerator.unwrap_model(module), temporary, state_dict)
        if update is not None:
            _write_pretraining_state(task, temporary, update)
        directory.mkdir(parents=True, exist_ok=True)
        for item in temporary.iterdir():
            target = directory / item.name
            if target.is_dir():
                shutil.rmtree(target)
            os.replace(item, target)
        shutil.rmtree(temporary, ignore_errors=True)
    accelerator.wait_for_everyone()
    return directory


def _write_pretraining_state(task: PretrainingTask, directory: Path, update: int) -> None:
    """The export's ``pretraining_state.json``: the recipe as it ran (warm-up count, Gumbel schedule
    with the floor fraction applied) and ``update``."""
    from wav2vec_hf.pretraining.pretraining_state import recipe_record, write_pretraining_state

    config = task.config
    gumbel = getattr(task, "gumbel", None)  # the schedule the task used (None: no Gumbel quantiser)
    schedule = (
        (gumbel.start, gumbel.end, gumbel.decay) if gumbel is not None else config.recipe.gumbel_temperature
    )
    write_pretraining_state(
        directory,
        num_updates=update,
        recipe=recipe_record(config.recipe, warmup_steps=config.warmup_steps, gumbel=schedule),
        source=f"wav2vec-hf pretraining run ({config.model.model_type}, recipe {config.recipe_name})",
    )


REQUEST_POLL_UPDATES = 10  # multi-process runs agree on an export request this often (a collective)


def _export_requested(accelerator, output_dir: Path, training, update: int) -> bool:
    """Whether to export now: every ``--export_steps`` updates, or when the file ``EXPORT`` appears.

    One process: a file check on the host, every update. Several processes must agree (FSDP gathers
    weights collectively), which costs a reduction and a host sync: they poll every
    ``REQUEST_POLL_UPDATES`` updates instead of every update.
    """
    requested = training.export_steps > 0 and update % training.export_steps == 0
    request = output_dir / EXPORT_REQUEST
    if accelerator.num_processes == 1:
        asked = request.exists()
    elif update % REQUEST_POLL_UPDATES == 0:
        flag = torch.tensor(float(request.exists()), device=accelerator.device)
        asked = accelerator.reduce(flag, reduction="sum").item() > 0
    else:
        asked = False
    if asked:
        accelerator.wait_for_everyone()
        if accelerator.is_main_process:
            request.unlink(missing_ok=True)
        requested = True
    return requested


def _export_only(accelerator, task, module, checkpoint: Path | None, output_dir: Path) -> PretrainingResult:
    if checkpoint is None:
        raise FileNotFoundError(f"--export_only: no checkpoint under {checkpoint_root(output_dir)}.")
    accelerator.load_state(str(checkpoint))
    saved = read_trainer_state(checkpoint)
    export_dir = export_model(accelerator, task, module, output_dir, update=int(saved["update"]))
    accelerator.print(f"exported {checkpoint} (update {saved['update']}) to {export_dir}")
    return PretrainingResult(
        output_dir=output_dir,
        updates=int(saved["update"]),
        interrupted=False,
        export_dir=export_dir,
        first_valid=saved.get("first_valid"),
        last_valid=None,
        last_train={},
        health=saved.get("health", {}),
    )


def _build_data(accelerator, task, output_dir: Path):
    """``task.build_data()``; bad data refused (``on_bad="raise"``) is listed, every file with its
    reason, in ``OUTPUT_DIR/bad_files.tsv``, and the error names that table.

    With several processes the main one validates first and saves what it learnt about every file
    (``data.file_facts``); the others wait, then validate from those facts without reading a header
    (one validation per corpus, not one per rank). The main process releases them whether its
    validation passed or not, so every rank reaches the same verdict instead of waiting forever.
    """
    from wav2vec_hf.data import DataValidationError

    main_first = accelerator.num_processes > 1
    if main_first and not accelerator.is_main_process:
        accelerator.wait_for_everyone()
    try:
        return task.build_data()
    except DataValidationError as error:
        if not accelerator.is_main_process:
            raise
        report_file = write_bad_files(output_dir / BAD_FILES_NAME, [error.report])
        raise DataValidationError(error.report, report_file) from None
    finally:
        if main_first and accelerator.is_main_process:
            accelerator.wait_for_everyone()


def _gather_load_failures(accelerator, load_skips: SkipReport) -> SkipReport:
    """Every process's files that failed while loading, in one report (for ``bad_files.tsv``)."""
    from accelerate.utils import gather_object

    merged = SkipReport(source=load_skips.source)
    for failures in gather_object([load_skips.failures]):
        for failure in failures:
            merged.add(*failure)
    return merged


def _gather_skips(accelerator, reports: list[SkipReport]) -> list[dict]:
    from accelerate.utils import gather_object

    merged: dict[str, SkipReport] = {}
    for per_process in gather_object([[report.to_dict() for report in reports]]):
        for report in per_process:
            into = merged.setdefault(report["source"], SkipReport(source=report["source"]))
            other = SkipReport(source=report["source"], seen=report["seen"])
            for reason, count in report["counts"].items():
                other.counts[reason] += count
            other.examples = {
                reason: [(path, path) for path in paths] for reason, paths in report["examples"].items()
            }
            into.merge(other)
    return [report.to_dict() for report in merged.values()]


def _truncate_metrics(path: Path, update: int) -> None:
    """Drop records past ``update`` (the killed run's updates after its last checkpoint)."""
    if not path.exists():
        return
    kept = [record for record in read_metrics(path) if record["update"] <= update]
    if any(r["split"] == "skipped" for r in kept):
        kept = [r for r in kept if not (r["split"] == "skipped" and r["update"] >= update)]
    with open(path, "w", encoding="utf-8") as handle:
        for record in kept:
            handle.write(json.dumps(record) + "\n")


def _tracker_config(config: PretrainingConfig) -> dict:
    """Tracker hyper-parameters: scalars and strings only (tensorboard's hparams refuses None and lists)."""
    flat = {}
    for key, value in config.to_dict().items():
        flat[key] = value if isinstance(value, (int, float, str, bool)) else str(value)
    return flat


def _progress_bar(accelerator, training, total: int, initial: int):
    from tqdm.auto import tqdm

    return tqdm(
        total=total,
        initial=initial,
        disable=not (accelerator.is_local_main_process and training.progress_bar),
        dynamic_ncols=True,
        desc="pretraining",
    )


def _postfix(record: dict) -> dict:
    shown = {}
    for key, name, fmt in (
        ("loss", "loss", "{:.3f}"),
        ("accuracy", "acc", "{:.3f}"),
        ("code_perplexity", "ppl", "{:.1f}"),
        ("learning_rate", "lr", "{:.2e}"),
        ("temperature", "tau", "{:.2f}"),
        ("audio_seconds_per_second", "audio-s/s", "{:.0f}"),
    ):
        if key in record:
            shown[name] = fmt.format(record[key])
    return shown


__all__ = ["PretrainingResult", "evaluate", "export_model", "make_accelerator", "run_pretraining"]
