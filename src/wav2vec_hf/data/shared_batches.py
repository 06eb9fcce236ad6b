"""Batch buffers shared with DataLoader workers and reused, instead of new shared memory per batch.

A DataLoader worker hands each batch to the main process through shared memory. By default every
batch gets a new shared-memory file: creating it and faulting in its pages costs ~3 ms per 4 MB on
the 2-core CPU this was measured on, more than decoding that much 16 kHz WAV (~2.5 ms). A
``SharedBatchRing`` allocates, before the workers start, ``slots`` buffers per worker in shared
memory; a worker builds each batch's audio in its next buffer (``batch_tensor``: decoded straight
into the rows by ``AudioDataset.__getitems__``), sends a ``SlotRef`` in its place and the batch's
small tensors by value (``seal``), and the main process copies the audio out and rebuilds the rest
(``restore``, into page-locked memory when asked) as it receives it.

Why a buffer is never overwritten while the main process still needs it: the DataLoader keeps at
most ``prefetch_factor`` batches per worker requested and not yet handed out, and it requests a
worker's next batch only when handing out one of that worker's batches, which ``take`` copies at
once. A worker therefore builds batch ``k`` while at most its batches ``k - prefetch_factor`` ..
``k - 1`` are in use, so ``prefetch_factor + 1`` buffers suffice; the ring keeps one more. Each
buffer also carries a generation counter (odd while a worker writes it): ``take`` checks it after
copying and raises instead of returning audio that changed underneath.

Used by ``pretraining.data.AudioLoader`` (training and validation) when it runs workers; ``batch_tensor`` falls back to an
ordinary tensor in the main process, for batches larger than a buffer, and without a ring.
"""

from __future__ import annotations

import os
import threading
import weakref
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import get_worker_info

BYTES_PER_SAMPLE = 4  # float32

_worker_ring: SharedBatchRing | None = None  # this worker process's ring (set by ``install``)


@dataclass(frozen=True)
class SlotRef:
    """Where a worker left a batch's ``(rows, width)`` float32 audio: buffer ``slot`` of ``worker``,
    written as ``generation``."""

    worker: int
    slot: int
    rows: int
    width: int
    generation: int


@dataclass(frozen=True)
class ByValue:
    """A small tensor of a sealed batch, travelling as a numpy array (pickled by value)."""

    array: np.ndarray


class SharedBatchRing:
    """``slots`` float32 buffers of ``capacity`` samples per worker, in shared memory.

    Args:
        num_workers: DataLoader workers.
        slots: buffers per worker (at least ``prefetch_factor + 2``: see the module docstring).
        capacity: samples per buffer (a batch's ``rows * width``; larger batches are not put in it).
    """

    def __init__(self, num_workers: int, slots: int, capacity: int) -> None:
        if num_workers < 1 or slots < 2 or capacity < 1:
            raise ValueError(
                f"need workers >= 1, slots >= 2, capacity >= 1; got {num_workers}, {slots}, {capacity}"
            )
        self.num_workers, self.slots, self.capacity = int(num_workers), int(slots), int(capacity)
        self.buffers = torch.empty((num_workers, slots, capacity), dtype=torch.float32).share_memory_()
        self.generations = torch.zeros((num_workers, slots), dtype=torch.int64).share_memory_()
        self._tasks = 0  # batches this worker has started (each worker process has its own copy)
        self._open: tuple[int, int] | None = None  # (worker, slot) of the batch being built

    @staticmethod
    def nbytes(num_workers: int, slots: int, capacity: int) -> int:
        return num_workers * slots * capacity * BYTES_PER_SAMPLE

    @classmethod
    def fits_in_shared_memory(
        cls, num_workers: int, slots: int, capacity: int, folder: str = "/dev/shm"
    ) -> bool:
        """Whether the ring would take at most half of the free space of ``folder`` (where Linux keeps
        shared memory; containers often give it only 64 MB)."""
        try:
            stats = os.statvfs(folder)
        except OSError:
            return False
        return cls.nbytes(num_workers, slots, capacity) <= stats.f_bavail * stats.f_frsize // 2

    def install(self, worker_id: int) -> None:
        """``worker_init_fn``: make this the ring of the worker process ``worker_id``."""
        global _worker_ring
        _worker_ring = self
        self._tasks, self._open = 0, None

    def allocate(self, rows: int, width: int) -> torch.Tensor | None:
        """The open batch's buffer as ``(rows, width)``: the first call of a batch takes the worker's
        next buffer; ``None`` for any further call of the same batch and for a batch too large."""
        info = get_worker_info()
        if self._open is not None or info is None or rows * width > self.capacity or rows * width == 0:
            return None
        worker, slot = info.id, self._tasks % self.slots
        self._tasks += 1
        self.generations[worker, slot] += 1  # odd: being written
        self._open = (worker, slot)
        return self.buffers[worker, slot, : rows * width].view(rows, width)

    def seal(self, batch: dict) -> dict:
        """Replace ``batch["input_values"]`` by its ``SlotRef`` when it is the open buffer; close the batch."""
        opened, self._open = self._open, None
        if opened is None:
            return batch
        worker, slot = opened
        self.generations[worker, slot] += 1  # even: complete
        values = batch.get("input_values")
        buffer = self.buffers[worker, slot]
        if (
            not isinstance(values, torch.Tensor)
            or values.dim() != 2
            or values.data_ptr() != buffer.data_ptr()
        ):
            return batch  # the batch was built elsewhere (the collator copied it); the buffer goes unused
        rows, width = values.shape
        ref = SlotRef(worker, slot, rows, width, int(self.generations[worker, slot]))
        # The batch's other tensors are small (lengths, ...): sent by value, they need no shared memory.
        small = {
            key: ByValue(value.numpy()) for key, value in batch.items() if isinstance(value, torch.Tensor)
        }
        return {**batch, **small, "input_values": ref}

    def restore(self, batch: dict, *, pin_memory: bool = False) -> dict:
        """A batch ``seal`` sent, with its tensors back: the audio copied out of its buffer (``take``)
        and the small tensors rebuilt (page-locked too when asked)."""
        restored = {}
        for key, value in batch.items():
            if isinstance(value, SlotRef):
                value = self.take(value, pin_memory=pin_memory)
            elif isinstance(value, ByValue):
                value = torch.from_numpy(value.array)
                value = value.pin_memory() if pin_memory else value
            restored[key] = value
        return restored

    def take(self, ref: SlotRef, *, pin_memory: bool = False) -> torch.Tensor:
        """A copy of the batch audio ``ref`` points to: float32 ``(rows, width)``, page-locked if asked.

        Raises:
            RuntimeError: the buffer was rewritten before it was copied (a bug: the DataLoader
                requested more batches ahead than the ring has buffers).
        """
        size = ref.rows * ref.width
        if pin_memory:  # torch's pinned-memory allocator reuses page-locked blocks itself
            out = torch.empty((ref.rows, ref.width), dtype=torch.float32, pin_memory=True)
        else:
            out = _recycled.empty(ref.rows, ref.width)
        out.view(-1).copy_(self.buffers[ref.worker, ref.slot, :size])
        if int(self.generations[ref.worker, ref.slot]) != ref.generation:
            raise RuntimeError(
                f"worker {ref.worker} rewrote batch buffer {ref.slot} before the batch was copied out; "
                "run with more ring slots than the DataLoader's prefetch_factor + 1 (please report this)."
            )
        return out


class RingCollator:
    """A DataLoader ``collate_fn``: ``collator``'s batch, its audio left in the worker's ring buffer."""

    def __init__(self, collator, ring: SharedBatchRing) -> None:
        self.collator = collator
        self.ring = ring

    def __call__(self, examples):
        return self.ring.seal(self.collator(examples))


class RecycledBatchMemory:
    """Uninitialised float32 batch tensors whose memory is reused once nothing views it any more.

    A new multi-megabyte tensor per batch is fresh memory: glibc's heap grows and shrinks as batch
    sizes vary, and every page of the new batch is faulted in and zeroed by the kernel (measured:
    ~1,000 page faults per 4 MB batch in the main process, 15-20% of the loader's CPU for 16 kHz
    WAV). This keeps the memory of finished batches, as torch's pinned-memory allocator does for
    page-locked batches: a tensor is a view of a kept numpy buffer, and a ``weakref.finalize`` on
    that view returns the buffer when the tensor, and every tensor viewing its storage, is gone
    (autograd's saved inputs included). A buffer is never handed out while anything can read it.

    Args:
        max_free: finished buffers kept for reuse (the smallest are dropped beyond it).
    """

    def __init__(self, max_free: int = 4) -> None:
        self.max_free = int(max_free)
        self._free: list[np.ndarray] = []  # float32 (capacity,) buffers that no tensor views
        self._lock = threading.Lock()  # for ``empty``; ``_release`` only appends (see there)

    def empty(self, rows: int, width: int) -> torch.Tensor:
        """A float32 ``(rows, width)`` tensor on the smallest free buffer that holds it, or a new one."""
        size = rows * width
        buffer = self._take(size)
        if buffer is None:
            buffer = np.empty(size, dtype=np.float32)
        view = buffer[:size].reshape(rows, width)  # its own ndarray: the tensor's storage holds it
        weakref.finalize(view, self._free.append, buffer)
        return torch.from_numpy(view)

    def _take(self, size: int) -> np.ndarray | None:
        # A finalizer may append to ``_free`` at any point (another thread, or a collection inside this
        # loop); nothing else changes the list outside the lock, so the indices below stay valid.
        with self._lock:
            free = self._free
            best = None
            for index in range(len(free)):
                if free[index].shape[0] >= size and (best is None or len(free[index]) < len(free[best])):
                    best = index
            buffer = free.pop(best) if best is not None else None
            while len(free) > self.max_free:
                free.pop(min(range(len(free)), key=lambda i: len(free[i])))
            return buffer


_recycled = RecycledBatchMemory()  # the main process's batch memory (workers use their ring)


def batch_tensor(rows: int, width: int) -> torch.Tensor:
    """An uninitialised float32 ``(rows, width)`` tensor for a batch's audio: this worker's next ring
    buffer when it has one and the batch fits; in the main process, recycled batch memory
    (``RecycledBatchMemory``); otherwise an ordinary tensor."""
    if _worker_ring is not None:
        buffer = _worker_ring.allocate(rows, width)
        if buffer is not None:
            return buffer
    if get_worker_info() is None:
        return _recycled.empty(rows, width)
    return torch.empty((rows, width), dtype=torch.float32)
