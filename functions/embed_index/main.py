"""Cloud function ``embed_index``: a work-queue message was published → a crops message is
embedded, indexed and given neighbours; a re-vote message re-votes its logos.

Raise to retry (``TransientError``), return to acknowledge.
"""

import functions_framework
from cloudevents.http import CloudEvent

from common.entrypoints import handle_queue_event


@functions_framework.cloud_event
def embed_index(event: CloudEvent) -> None:
    handle_queue_event(event)
