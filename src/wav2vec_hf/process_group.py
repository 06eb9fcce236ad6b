"""The end of a multi-process run (torchrun / ``accelerate launch``): leave the process group cleanly."""

from __future__ import annotations


def release_process_group() -> None:
    """Wait for every process, then destroy the default process group (nothing when there is none).

    A process that exits with its gloo/NCCL group still alive can abort in the group's destructor
    ("terminate called without an active exception", exit -6) while another process is still
    writing the run's summary, which fails the whole launch. Commands own their process, so they
    call this on success; the library loops do not, as they may run inside a caller's own
    distributed script.
    """
    import torch.distributed as distributed

    if distributed.is_available() and distributed.is_initialized():
        distributed.barrier()
        distributed.destroy_process_group()
