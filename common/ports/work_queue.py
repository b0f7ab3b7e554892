"""The queue of work between the use cases: crops messages (``detect`` → ``embed_index``, one per
image) and re-vote messages (an annotation change that reaches more logos than a request re-votes).

In the cloud it is one Pub/Sub topic (``LOGO_ANN_CROPS_TOPIC``, the name Terraform deploys);
embedded, the in-process outbox (``common.adapters.inprocess_queue``).
"""

from __future__ import annotations

from typing import Protocol

from common.messages import QueueMessage


class WorkQueue(Protocol):
    def publish(self, message: QueueMessage) -> None:
        """Publish (at least once). ``TransientError`` when the queue is unreachable."""
        ...
