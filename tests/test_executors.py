"""How the local process pool cuts the work into batches."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from imagedeid.pipeline.executors import _batches
from imagedeid.pipeline.tasks import Task


class Sized:
    def __init__(self, n: int) -> None:
        self.n = n

    def __iter__(self) -> Iterator[Task]:
        return (Task("file", (f"/in/{i}",), (str(i),)) for i in range(self.n))

    def __length_hint__(self) -> int:
        return self.n


@pytest.mark.parametrize("n", [0, 1, 7, 100, 1200, 50_000])
@pytest.mark.parametrize("workers", [1, 2, 16])
def test_guided_batches_cover_every_task_once_in_order(n: int, workers: int) -> None:
    sizes = []
    seen = []
    for batch in _batches(Sized(n), 8, workers):
        sizes.append(len(batch))
        seen += [t.paths[0] for t in batch]
    assert seen == [f"/in/{i}" for i in range(n)]
    assert all(1 <= s <= 64 for s in sizes)
    assert sizes == sorted(sizes, reverse=True)  # large first, small at the end
    if n >= 256 * workers:
        assert sizes[-1] == 1  # the last ones go one by one: workers finish together
        assert len(sizes) < n / 4  # and most of the work went in large batches


def test_without_a_length_batches_have_the_fixed_size() -> None:
    tasks = (Task("file", (str(i),), (str(i),)) for i in range(20))
    assert [len(b) for b in _batches(tasks, 8, 2)] == [8, 8, 4]
