"""Use case: one queue message, wherever it is delivered.

A crops message is embedded, indexed and given its neighbour lists (``embed_and_index``); a
re-vote message re-votes its logos (``Propagation.revote``). The cloud's ``embed_index``
function hands each Pub/Sub message here (``common.entrypoints``); embedded, the linear pipeline
hands the crops messages of the image it has just detected (``common.pipeline.linear``) and the
deferred-work thread the re-vote messages (``common.pipeline.deferred``).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext

from common.messages import QueueMessage, RevoteMessage
from common.pipeline.embed_index import EmbedDeps, EmbedResult, embed_and_index
from common.pipeline.propagate import Propagation


class MessageHandler:
    def __init__(
        self,
        embed_deps: Callable[[], EmbedDeps],
        propagation: Propagation,
        lock: AbstractContextManager[object] | None = None,
    ) -> None:
        """``embed_deps``: the embed use case's collaborators, taken once per message (the embedded
        index is caught up with other processes' writes first). ``lock`` (embedded): one crops
        message at a time in this process, and none during an index catch-up, since each writes
        the embedded index.

        A re-vote message does not take ``lock``: it writes predictions only, and every prediction
        write in the process (these, the inline re-votes of requests, those of an embedding) takes
        ``Propagation``'s vote lock, so they already run one at a time. A re-vote that reads a
        neighbour list just before an embedding rewrites it is followed by the embedding's own
        re-vote of that list's logo. So a search's index catch-up never waits for re-votes."""
        self.embed_deps = embed_deps
        self.propagation = propagation
        self.lock: AbstractContextManager[object] = lock if lock is not None else nullcontext()

    def handle_message(self, message: QueueMessage) -> EmbedResult | int:
        """The crops message's ``EmbedResult``, or how many logos the re-vote message re-voted."""
        if isinstance(message, RevoteMessage):
            return self.propagation.revote(message.logo_ids)
        with self.lock:
            return embed_and_index(message, self.embed_deps())
