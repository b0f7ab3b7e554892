"""Cloud function ``embed_index``: a crops message was published → embed, index, neighbours.

Raise to retry (``TransientError``), return to acknowledge.
"""

import functions_framework
from cloudevents.http import CloudEvent

from common.entrypoints import handle_crops_event


@functions_framework.cloud_event
def embed_index(event: CloudEvent) -> None:
    handle_crops_event(event)
