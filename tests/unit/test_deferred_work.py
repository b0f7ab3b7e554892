"""The embedded deferred work: re-vote messages are recorded, then delivered off the publishing
thread, one at a time; ``drain`` waits for them, and a ``logo-ann`` command calls it before it returns."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import pytest

import common.bootstrap as bootstrap
from common.adapters.inprocess_queue import InProcessQueue
from common.bootstrap import Container
from common.cli import commands as cli
from common.domain import Box, ObjectRef
from common.messages import CropLogo, CropsMessage, QueueMessage, RevoteMessage
from common.pipeline.deferred import DeferredWork
from common.settings import load_settings

CROPS = CropsMessage(7, ObjectRef("uploads", "7.jpg", "1"), (CropLogo(3, Box(0.1, 0.1, 0.9, 0.9)),))


class Gated:
    """A message handler that waits for ``release`` before each delivery, and records it."""

    def __init__(self, fail_on: tuple[int, ...] = ()) -> None:
        self.release = threading.Event()
        self.handled: list[tuple[QueueMessage, threading.Thread]] = []
        self.fail_on = fail_on

    def handle_message(self, message: QueueMessage) -> int:
        self.release.wait()
        self.handled.append((message, threading.current_thread()))
        if isinstance(message, RevoteMessage) and message.logo_ids[0] in self.fail_on:
            raise RuntimeError("the store went away")
        return 1


def test_publish_returns_before_delivery_and_drain_waits_for_it() -> None:
    outbox, handler = InProcessQueue(), Gated()
    work = DeferredWork(outbox, lambda: handler)  # type: ignore[arg-type, return-value]
    work.publish(RevoteMessage((1, 2)))
    work.publish(RevoteMessage((3,)))
    assert handler.handled == []  # the publisher did not wait for the handler
    handler.release.set()
    work.drain()
    assert [message for message, _ in handler.handled] == [RevoteMessage((1, 2)), RevoteMessage((3,))]
    assert all(thread is not threading.current_thread() for _, thread in handler.handled)
    assert outbox.messages == []


def test_a_failed_delivery_is_logged_and_the_next_one_still_runs(caplog: pytest.LogCaptureFixture) -> None:
    handler = Gated(fail_on=(1,))
    handler.release.set()
    work = DeferredWork(InProcessQueue(), lambda: handler)  # type: ignore[arg-type, return-value]
    with caplog.at_level(logging.ERROR, logger="common.pipeline.deferred"):
        work.publish(RevoteMessage((1,)))
        work.publish(RevoteMessage((2,)))
        work.drain()
    assert [message for message, _ in handler.handled] == [RevoteMessage((1,)), RevoteMessage((2,))]
    assert "deferred" in caplog.text and "the store went away" in caplog.text


def test_crops_messages_stay_for_the_linear_pipeline() -> None:
    outbox, handler = InProcessQueue(), Gated()
    handler.release.set()
    work = DeferredWork(outbox, lambda: handler)  # type: ignore[arg-type, return-value]
    outbox.publish(CROPS)  # detect's, in the same outbox
    work.publish(RevoteMessage((4,)))
    work.drain()
    assert [message for message, _ in handler.handled] == [RevoteMessage((4,))]
    assert outbox.messages == [CROPS]
    with pytest.raises(ValueError, match="re-vote messages"):
        work.publish(CROPS)


def test_drain_with_nothing_deferred_returns_at_once() -> None:
    DeferredWork(InProcessQueue(), Gated).drain()  # type: ignore[arg-type]


def test_a_command_returns_once_the_work_it_deferred_is_done(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    container = Container(load_settings({}, home=tmp_path))
    order: list[str] = []
    monkeypatch.setattr(container, "drain", lambda: order.append("drained"))
    monkeypatch.setattr(cli, "cmd_samples", lambda args: order.append("ran") or 0)
    previous = bootstrap.set_container(container)
    try:
        assert cli.main(["samples", "--out", str(tmp_path / "samples")]) == 0
    finally:
        bootstrap.set_container(previous)
    assert order == ["ran", "drained"]
