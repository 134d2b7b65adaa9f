"""Pluggable executors: how tasks reach workers. Only this layer knows about processes.

An executor takes the worker settings (sent once per worker, not per task) and maps
``run_task`` over an iterable of tasks, yielding each task's results as they finish.
A distributed engine is another implementation of the same protocol.
"""

from __future__ import annotations

import gc
import multiprocessing
import operator
import os
import signal
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from itertools import islice
from typing import Protocol

from imagedeid.model import FileResult
from imagedeid.pipeline.tasks import Task, WorkerSettings
from imagedeid.pipeline.worker import init_worker, run_task, warm_up


class Executor(Protocol):
    def map_tasks(
        self, settings: WorkerSettings, tasks: Iterable[Task]
    ) -> Iterator[list[FileResult]]: ...


class SerialExecutor:
    """In this process, one task after another: for tests, debugging and tiny jobs."""

    def map_tasks(
        self, settings: WorkerSettings, tasks: Iterable[Task]
    ) -> Iterator[list[FileResult]]:
        init_worker(settings)
        for task in tasks:
            yield run_task(task)


_MAX_BATCH = 64


def _batches(tasks: Iterable[Task], size: int, workers: int) -> Iterator[list[Task]]:
    """Batches of ``size`` tasks; when ``tasks`` knows its length (``__length_hint__``),
    guided ones instead: large while much is left (less messaging per file), shrinking
    to one at the end so that every worker finishes at about the same time."""
    left = operator.length_hint(tasks, 0)
    it = iter(tasks)
    while True:
        n = max(1, min(_MAX_BATCH, left // (workers * 4))) if left else size
        batch = list(islice(it, n))
        if not batch:
            return
        left = max(0, left - len(batch))
        yield batch


def _run_batch(batch: list[Task]) -> list[FileResult]:
    return [r for task in batch for r in run_task(task)]


def _quiet_exit(_signum: int, _frame: object) -> None:
    os._exit(130)


def _init_pool_worker(settings: WorkerSettings) -> None:
    # On Ctrl-C a worker leaves at once and without a traceback. That is safe: outputs
    # appear only by an atomic link of a whole file (an unnamed one, or one in the staging
    # folder, which the next run clears), and the journal lets the rerun finish the job.
    signal.signal(signal.SIGINT, _quiet_exit)
    init_worker(settings)
    # A pool worker's tables and dictionaries live as long as it does: take them out of
    # the cyclic collector's sight, so its full passes stay short. A file's elements
    # form no cycles and are freed by reference counting as the file is done, so the
    # young generation is collected less often (about 2% of a header worker's time).
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


class ProcessExecutor:
    """A local process pool. Tasks go in small batches; at most a few batches per worker
    are in flight, so memory stays flat over millions of files."""

    def __init__(self, workers: int | None = None, batch_size: int = 8) -> None:
        self.workers = max(1, workers or os.cpu_count() or 1)
        self.batch_size = batch_size

    def map_tasks(
        self, settings: WorkerSettings, tasks: Iterable[Task]
    ) -> Iterator[list[FileResult]]:
        ctx = multiprocessing.get_context("fork" if os.name == "posix" else "spawn")
        if ctx.get_start_method() == "fork":
            warm_up(settings)  # forked workers inherit the compiled plan and the dictionary
        with ProcessPoolExecutor(
            self.workers, mp_context=ctx, initializer=_init_pool_worker, initargs=(settings,)
        ) as pool:
            pending: set[Future[list[FileResult]]] = set()
            limit = self.workers * 4
            try:
                for batch in _batches(tasks, self.batch_size, self.workers):
                    pending.add(pool.submit(_run_batch, batch))
                    if len(pending) >= limit:
                        done, pending = wait(pending, return_when=FIRST_COMPLETED)
                        for fut in done:
                            yield fut.result()
                while pending:
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for fut in done:
                        yield fut.result()
            except BaseException:  # Ctrl-C or an abandoned run: drop what has not started
                for fut in pending:
                    fut.cancel()
                raise
