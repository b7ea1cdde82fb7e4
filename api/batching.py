"""Single-chart requests that arrive together are suggested in one batch.

A worker's threads each answer a ``POST /v1/suggest``. Run one by one, every chart pays the per-call costs of the
model (the ranker walks its 300 trees once per call, the TF-IDF and neighbour steps build their matrices); a batch
pays them once. So the request threads queue their charts, and whichever thread finds the model idle takes every
queued chart that asks for the same options and runs them as one ``suggest_batch`` call, then hands each request
its result. Nothing waits for company: a chart that arrives alone is suggested at once, and a chart that arrives
while a batch runs goes into the next one. The model gives a chart the same suggestions in a batch as alone
(``tests/model/test_suggester.py::test_batch_equals_single``).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

#: Charts per batch at most: beyond this the wait of the last request grows more than the batch saves.
MAX_BATCH = 16


@dataclass(eq=False)
class _Job:
    text: str
    specialty: str | None
    patient: Any
    options: tuple  # (top_k, min_confidence, setting): a batch shares them
    done: bool = False
    result: Any = None
    error: BaseException | None = None


@dataclass(eq=False)
class SuggestCoalescer:
    """Suggests concurrent single charts of one model in batches (see the module's doc)."""

    model: Any
    max_batch: int = MAX_BATCH
    _queue: list[_Job] = field(default_factory=list)
    _busy: bool = False
    _cond: threading.Condition = field(default_factory=threading.Condition)

    def suggest(self, text: str, top_k: int = 10, specialty: str | None = None, min_confidence: float = 0.0,
                setting: str | None = None, patient: Any = None) -> Any:
        """``model.suggest(...)``, run in a batch with the charts other threads ask for meanwhile."""
        job = _Job(text, specialty, patient, (top_k, min_confidence, setting))
        with self._cond:
            self._queue.append(job)
            while not job.done:
                if self._busy:
                    self._cond.wait()
                    continue
                self._busy = True
                batch = self._take()
                self._cond.release()
                try:
                    self._run(batch)
                finally:
                    self._cond.acquire()
                    self._busy = False
                    self._cond.notify_all()
        if job.error is not None:
            raise job.error
        return job.result

    def _take(self) -> list[_Job]:
        """The oldest queued job and the queued jobs with its options, up to ``max_batch``, in arrival order."""
        options = self._queue[0].options
        batch = [j for j in self._queue if j.options == options][: self.max_batch]
        taken = set(map(id, batch))
        self._queue = [j for j in self._queue if id(j) not in taken]
        return batch

    def _run(self, batch: list[_Job]) -> None:
        top_k, min_confidence, setting = batch[0].options
        try:
            results = self.model.suggest_batch([j.text for j in batch], top_k=top_k,
                                               specialties=[j.specialty for j in batch],
                                               min_confidence=min_confidence, setting=setting,
                                               patients=[j.patient for j in batch])
        except Exception as exc:
            if len(batch) == 1:
                batch[0].error, batch[0].done = exc, True
                return
            for job in batch:  # one chart's error is its own request's, not its batch's
                self._run([job])
            return
        for job, result in zip(batch, results, strict=True):
            job.result, job.done = result, True
