"""Cloud function ``detect``: a storage object was finalized (or deleted) → find its logos.

Raise to retry (``TransientError``), return to acknowledge (done, or a permanent failure
recorded against the image).
"""

import functions_framework
from cloudevents.http import CloudEvent

from common.entrypoints import handle_storage_event


@functions_framework.cloud_event
def detect(event: CloudEvent) -> None:
    handle_storage_event(event)
