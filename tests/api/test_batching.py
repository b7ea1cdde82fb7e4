"""Concurrent single-chart requests are suggested in batches, each getting its own chart's result."""

import threading

import pytest

from api.batching import SuggestCoalescer


class _Recording:
    """The model, recording the size of every batch it is asked for; the first call waits until ``release``."""

    def __init__(self, model):
        self.model = model
        self.sizes: list[int] = []
        self.release = threading.Event()

    def suggest_batch(self, texts, **kwargs):
        self.sizes.append(len(texts))
        self.release.wait(10)
        return self.model.suggest_batch(texts, **kwargs)


def _ask_at_once(coalescer, texts, **kwargs):
    results: dict[int, object] = {}

    def ask(i, text):
        try:
            results[i] = coalescer.suggest(text, **kwargs)
        except Exception as exc:  # noqa: BLE001 - the test looks at what each request got
            results[i] = exc

    threads = [threading.Thread(target=ask, args=(i, t)) for i, t in enumerate(texts)]
    for t in threads:
        t.start()
    return threads, results


def test_charts_asked_for_together_are_suggested_in_a_batch_each_with_its_own_result(small_model, held_out):
    texts = [c.text for c in held_out[:7]]
    recording = _Recording(small_model)
    coalescer = SuggestCoalescer(recording)
    threads, results = _ask_at_once(coalescer, texts, top_k=8)
    while len(recording.sizes) < 1 or len(coalescer._queue) < len(texts) - recording.sizes[0]:
        threading.Event().wait(0.01)  # the first chart is being suggested; the others queue behind it
    recording.release.set()
    for t in threads:
        t.join(30)
    # One batch, or the charts that came while the first ran in a second one: never a batch per chart.
    assert sum(recording.sizes) == len(texts) and len(recording.sizes) <= 2
    for i, text in enumerate(texts):
        assert results[i].to_dict() == small_model.suggest(text, top_k=8).to_dict()


def test_a_failing_chart_fails_its_own_request_only(small_model, held_out):
    texts = [held_out[0].text, 42, held_out[1].text]  # 42 is not a chart: suggest_batch raises TypeError for it
    recording = _Recording(small_model)
    recording.release.set()
    coalescer = SuggestCoalescer(recording)
    threads, results = _ask_at_once(coalescer, texts, top_k=5)
    for t in threads:
        t.join(30)
    assert isinstance(results[1], TypeError)
    assert results[0].to_dict() == small_model.suggest(texts[0], top_k=5).to_dict()
    assert results[2].to_dict() == small_model.suggest(texts[2], top_k=5).to_dict()


def test_requests_with_other_options_go_in_another_batch(small_model, held_out):
    recording = _Recording(small_model)
    recording.release.set()
    coalescer = SuggestCoalescer(recording)
    first = coalescer.suggest(held_out[0].text, top_k=3, setting="mentions")
    assert first.setting == "mentions" and len(first.suggestions) <= 3
    with pytest.raises(ValueError, match="setting"):
        coalescer.suggest(held_out[0].text, setting="nowhere")
    assert coalescer.suggest(held_out[1].text, top_k=4).to_dict() == small_model.suggest(held_out[1].text,
                                                                                         top_k=4).to_dict()
