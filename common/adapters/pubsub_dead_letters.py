"""Dead letters on Pub/Sub: list what a dead-letter subscription holds, and replay it.

A message lands on a dead-letter topic after ``max_delivery_attempts`` failed pushes. ``list``
pulls up to ``limit`` messages and releases them again (ack deadline 0), so listing changes
nothing. ``replay`` publishes each one back to the topic it came from (payload and attributes,
without the dead-letter bookkeeping ones) and acknowledges it only once the publish is
confirmed: a failure part-way loses nothing, and the handlers absorb a repeat.
"""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Iterator
from typing import Any

from google.api_core import exceptions as api_exceptions

from common.adapters.pubsub_publisher import PubSubPublisher
from common.errors import DependencyError

BOOKKEEPING = "CloudPubSubDeadLetter"  # attributes Pub/Sub adds when it dead-letters a message


@dataclasses.dataclass(frozen=True)
class DeadLetter:
    message_id: str
    publish_time: str
    attributes: dict[str, str]
    data: bytes
    delivery_attempt: int | None
    ack_id: str

    def summary(self) -> dict[str, Any]:
        try:
            text: str = self.data.decode("utf-8")
            body: dict[str, Any] = {"data": text[:1000]}
        except UnicodeDecodeError:
            body = {"data_base64": base64.b64encode(self.data[:750]).decode()}
        return {"message_id": self.message_id, "publish_time": self.publish_time, "attributes": self.attributes,
                "delivery_attempt": self.delivery_attempt, "bytes": len(self.data), **body}  # fmt: skip


class PubSubDeadLetters:
    def __init__(self, project: str, *, subscriber: Any = None, timeout: float = 10.0) -> None:
        if subscriber is None:
            from google.cloud import pubsub_v1

            subscriber = pubsub_v1.SubscriberClient()
        self._subscriber = subscriber
        self.project, self.timeout = project, timeout

    def path(self, subscription: str) -> str:
        return str(self._subscriber.subscription_path(self.project, subscription))

    def held(self, subscription: str, limit: int = 100) -> list[DeadLetter]:
        path = self.path(subscription)
        held = list(self._pull_all(path, limit))
        if held:  # release them at once: listing leaves the subscription as it was
            ack_ids = [m.ack_id for m in held]
            self._call("release", self._subscriber.modify_ack_deadline, subscription=path, ack_ids=ack_ids,
                       ack_deadline_seconds=0)  # fmt: skip
        return held

    def replay(self, subscription: str, publisher: PubSubPublisher, limit: int = 100) -> list[DeadLetter]:
        """Publish each held message back to ``publisher``'s topic, then acknowledge it."""
        path = self.path(subscription)
        replayed: list[DeadLetter] = []
        for letter in self._pull_all(path, limit):
            attributes = {k: v for k, v in letter.attributes.items() if not k.startswith(BOOKKEEPING)}
            attributes["replayed_from"] = letter.message_id
            publisher.publish(letter.data, attributes)
            self._call("acknowledge", self._subscriber.acknowledge, subscription=path, ack_ids=[letter.ack_id])
            replayed.append(letter)
        return replayed

    def _pull_all(self, path: str, limit: int) -> Iterator[DeadLetter]:
        seen: set[str] = set()
        while len(seen) < limit:
            try:
                response = self._subscriber.pull(subscription=path, max_messages=min(100, limit - len(seen)),
                                                 timeout=self.timeout)  # fmt: skip
            except api_exceptions.DeadlineExceeded:
                return
            except (api_exceptions.GoogleAPIError, OSError) as exc:
                raise DependencyError("pubsub", f"pull from {path} failed: {exc}") from exc
            fresh = [item for item in response.received_messages if item.message.message_id not in seen]
            if not fresh:
                return
            for item in fresh:
                seen.add(item.message.message_id)
                yield _letter(item)

    def _call(self, what: str, method: Any, **kwargs: Any) -> None:
        try:
            method(**kwargs)
        except (api_exceptions.GoogleAPIError, OSError) as exc:
            raise DependencyError("pubsub", f"{what} on {kwargs.get('subscription')} failed: {exc}") from exc

    def close(self) -> None:
        self._subscriber.close()


def _letter(item: Any) -> DeadLetter:
    message = item.message
    published = message.publish_time
    return DeadLetter(
        message_id=str(message.message_id),
        publish_time=published.isoformat() if hasattr(published, "isoformat") else str(published),
        attributes=dict(message.attributes),
        data=bytes(message.data),
        delivery_attempt=int(item.delivery_attempt) if getattr(item, "delivery_attempt", 0) else None,
        ack_id=str(item.ack_id),
    )
