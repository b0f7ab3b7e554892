"""How S3ImageStore maps S3 error responses (stubbed client) onto the project's error tree."""

from __future__ import annotations

import boto3
import pytest
from botocore.stub import Stubber

from common.adapters.s3_image_store import S3ImageStore
from common.domain import ObjectRef
from common.errors import DependencyError, LogoAnnError, NotFoundError


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        ("NoSuchKey", 404, NotFoundError),
        ("NoSuchBucket", 404, NotFoundError),
        ("SlowDown", 503, DependencyError),
        ("InternalError", 500, DependencyError),
        ("AccessDenied", 403, DependencyError),
    ],
)
def test_error_responses_are_translated(code: str, status: int, expected: type[LogoAnnError]) -> None:
    client = boto3.client("s3", region_name="us-east-1", aws_access_key_id="k", aws_secret_access_key="s")
    store = S3ImageStore("", "us-east-1", "k", "s", client=client)
    with Stubber(client) as stub:
        stub.add_client_error("get_object", service_error_code=code, http_status_code=status)
        with pytest.raises(expected) as info:
            store.get(ObjectRef("bucket", "x.jpg"))
    assert code in str(info.value)


def test_generation_header_of_gcs_is_used() -> None:
    client = boto3.client("s3", region_name="us-east-1", aws_access_key_id="k", aws_secret_access_key="s")
    store = S3ImageStore("", "us-east-1", "k", "s", client=client)
    with Stubber(client) as stub:
        stub.add_response(
            "put_object",
            {"ETag": '"abc"', "ResponseMetadata": {"HTTPStatusCode": 200, "HTTPHeaders": {"x-goog-generation": "17"}}},
        )
        ref = store.put("bucket", "x.jpg", b"data")
    assert ref == ObjectRef("bucket", "x.jpg", "17")
