from __future__ import annotations

import pytest

from common.adapters.inprocess_queue import InProcessQueue
from common.domain import Box, ObjectRef
from common.errors import DependencyError
from common.messages import CropLogo, CropsMessage


def _message(image_id: int) -> CropsMessage:
    return CropsMessage(image_id, ObjectRef("uploads", f"{image_id}.jpg", "7"), (CropLogo(3, Box(0.1, 0.1, 0.9, 0.9)),))


def test_publish_calls_the_handler_synchronously_with_an_equal_message() -> None:
    seen: list[CropsMessage] = []
    queue = InProcessQueue(seen.append)

    queue.publish(_message(1))

    assert seen == [_message(1)]
    assert queue.messages == []


def test_without_handler_messages_are_recorded_then_drained_in_order() -> None:
    queue = InProcessQueue()
    queue.publish(_message(1))
    queue.publish(_message(2))
    seen: list[int] = []

    assert [m.image_id for m in queue.messages] == [1, 2]
    assert queue.drain(lambda m: seen.append(m.image_id)) == 2
    assert seen == [1, 2]
    assert queue.messages == []


def test_handler_failure_reaches_the_publisher() -> None:
    def failing(message: CropsMessage) -> None:
        raise DependencyError("triton", "down")

    with pytest.raises(DependencyError):
        InProcessQueue(failing).publish(_message(1))


def test_deferred_messages_wait_for_their_taker_even_with_a_handler() -> None:
    seen: list[int] = []
    queue = InProcessQueue(lambda m: seen.append(m.image_id), defer=lambda m: m.image_id != 3)
    for image_id in (1, 2, 3):
        queue.publish(_message(image_id))
    assert seen == [3]  # not deferred: delivered at once
    assert queue.take_one(lambda m: m.image_id == 2) == _message(2)
    assert queue.take_one(lambda m: m.image_id == 2) is None  # each message is taken once
    assert queue.take_one() == _message(1) and queue.messages == []
