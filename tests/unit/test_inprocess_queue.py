from __future__ import annotations

from common.adapters.inprocess_queue import InProcessQueue
from common.domain import Box, ObjectRef
from common.messages import CropLogo, CropsMessage, RevoteMessage


def _message(image_id: int) -> CropsMessage:
    return CropsMessage(image_id, ObjectRef("uploads", f"{image_id}.jpg", "7"), (CropLogo(3, Box(0.1, 0.1, 0.9, 0.9)),))


def test_publish_only_records_an_equal_message() -> None:
    queue = InProcessQueue()
    queue.publish(_message(1))
    queue.publish(RevoteMessage((4, 5)))
    assert queue.messages == [_message(1), RevoteMessage((4, 5))]


def test_recorded_messages_are_drained_in_order() -> None:
    queue = InProcessQueue()
    queue.publish(_message(1))
    queue.publish(_message(2))
    seen: list[int] = []

    assert [m.image_id for m in queue.messages] == [1, 2]  # type: ignore[union-attr]
    assert queue.drain(lambda m: seen.append(m.image_id)) == 2  # type: ignore[union-attr]
    assert seen == [1, 2]
    assert queue.messages == []


def test_each_message_is_taken_once_by_whoever_selects_it() -> None:
    queue = InProcessQueue()
    for image_id in (1, 2, 3):
        queue.publish(_message(image_id))
    assert queue.take_one(lambda m: isinstance(m, CropsMessage) and m.image_id == 2) == _message(2)
    assert queue.take_one(lambda m: isinstance(m, CropsMessage) and m.image_id == 2) is None
    assert queue.take_one() == _message(1) and queue.messages == [_message(3)]
