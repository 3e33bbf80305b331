"""Read ahead on a second thread: the items of an iterator produced while the caller works on the previous ones.

Used where the producer releases the GIL (a BGZF/bcftools reader for the VCF import, DuckDB converting result
batches to Arrow for the Parquet writer), so two cores are busy instead of one.

Examples
--------
>>> list(read_ahead(iter(range(5)), depth=2))
[0, 1, 2, 3, 4]
>>> def broken():
...     yield 1
...     raise ValueError("bad record")
>>> list(read_ahead(broken()))
Traceback (most recent call last):
...
ValueError: bad record
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import TypeVar

T = TypeVar("T")

_END = object()


def read_ahead(items: Iterator[T], depth: int = 4, name: str = "pmo-read-ahead") -> Iterator[T]:
    """Yield ``items`` as a background thread produces them, at most ``depth`` ahead (bounded memory).

    An exception in the producer is raised in the consumer at the point it occurred. When the consumer stops
    early (``close()``, or the generator is dropped), the producer is told to stop and the queue is drained until
    its thread has ended, so no thread is left blocked on a full queue.
    """
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def work() -> None:
        try:
            for item in items:
                if stop.is_set():
                    return
                q.put(item)
            q.put(_END)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            q.put(exc)

    thread = threading.Thread(target=work, name=name, daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while thread.is_alive():
            try:
                q.get_nowait()
            except queue.Empty:
                thread.join(0.05)
