"""Object storage over the S3 API with boto3.

Works with the GCS interoperability endpoint (``https://storage.googleapis.com`` with HMAC
keys), AWS S3, SeaweedFS, MinIO and R2. Generations: GCS reports its own in the
``x-goog-generation`` response header; a versioned bucket reports a ``VersionId``; otherwise a
stable token is derived from the ETag and Last-Modified of the object.

Errors, as the port promises::

    NoSuchKey / NoSuchBucket / 404, or a different generation  -> NotFoundError
    name absolute, with a '..' segment or a NUL byte            -> InvalidEventError
    anything else (connection, timeout, 5xx, throttling, auth)  -> DependencyError("storage")
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from common.adapters.local_image_store import check_object_name
from common.domain import ObjectRef
from common.errors import DependencyError, InvalidEventError, NotFoundError
from common.records.logos import ListedObject

log = logging.getLogger(__name__)

_NOT_FOUND = {"NoSuchKey", "NoSuchBucket", "NotFound", "404", "NoSuchVersion"}
_GCS_GENERATION = "x-goog-generation"


class S3ImageStore:
    """``ImageStore`` backed by any S3-compatible service."""

    def __init__(
        self,
        endpoint_url: str,
        region: str,
        access_key_id: str,
        secret_access_key: str,
        *,
        client: Any = None,
        addressing_style: str = "path",
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
        max_attempts: int = 3,
    ) -> None:
        if client is None:
            config = Config(
                signature_version="s3v4",
                s3={"addressing_style": addressing_style},
                connect_timeout=connect_timeout,
                read_timeout=read_timeout,
                retries={"max_attempts": max_attempts, "mode": "standard"},
                # botocore >= 1.36 adds CRC checksums to every upload by default; the GCS
                # interoperability endpoint and several S3 clones reject or mangle them
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
            )
            client = boto3.session.Session().client(
                "s3",
                endpoint_url=endpoint_url or None,
                region_name=region or None,
                aws_access_key_id=access_key_id or None,
                aws_secret_access_key=secret_access_key or None,
                config=config,
            )
        self._client = client

    def get(self, ref: ObjectRef) -> bytes:
        _check_ref(ref.bucket, ref.name)
        where = f"{ref.bucket}/{ref.name}"
        with _translated(where):
            response = self._client.get_object(Bucket=ref.bucket, Key=ref.name)
            if ref.generation != "0":
                current = _generation(response)
                if current != ref.generation:
                    response["Body"].close()
                    raise NotFoundError(f"{where} generation {ref.generation} is gone (now {current})")
            data: bytes = response["Body"].read()
        return data

    def put(self, bucket: str, name: str, data: bytes, content_type: str = "application/octet-stream") -> ObjectRef:
        _check_ref(bucket, name)
        with _translated(f"{bucket}/{name}"):
            response = self._client.put_object(Bucket=bucket, Key=name, Body=data, ContentType=content_type)
            reported = _reported_generation(response)
            # neither GCS nor a versioned bucket: derive it from the stored object's ETag and date
            generation = reported or _generation(self._client.head_object(Bucket=bucket, Key=name))
        log.debug("stored %s/%s (%d bytes, generation %s)", bucket, name, len(data), generation)
        return ObjectRef(bucket, name, generation)

    def stat(self, bucket: str, name: str) -> ObjectRef | None:
        """The current generation of an object, or None if it does not exist."""
        _check_ref(bucket, name)
        try:
            with _translated(f"{bucket}/{name}"):
                return ObjectRef(bucket, name, _generation(self._client.head_object(Bucket=bucket, Key=name)))
        except NotFoundError:
            return None

    def delete(self, ref: ObjectRef) -> None:
        """Delete the current object; a missing object is not an error (S3 semantics)."""
        _check_ref(ref.bucket, ref.name)
        with _translated(f"{ref.bucket}/{ref.name}"):
            self._client.delete_object(Bucket=ref.bucket, Key=ref.name)

    def presigned_url(self, ref: ObjectRef, expires: int = 3600) -> str:
        """A time-limited GET URL for the object (signed locally, no request made)."""
        _check_ref(ref.bucket, ref.name)
        with _translated(f"{ref.bucket}/{ref.name}"):
            url: str = self._client.generate_presigned_url(
                "get_object", Params={"Bucket": ref.bucket, "Key": ref.name}, ExpiresIn=expires
            )
        return url

    def list_objects(self, bucket: str, prefix: str = "", start_after: str = "") -> Iterator[ListedObject]:
        """``ObjectLister`` over ``ListObjectsV2`` pages (1,000 names each), in the service's name order."""
        token: str | None = None
        while True:
            args: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix, "MaxKeys": 1000}
            if token:
                args["ContinuationToken"] = token
            elif start_after:
                args["StartAfter"] = start_after
            with _translated(f"{bucket}/{prefix}"):
                page = self._client.list_objects_v2(**args)
            for item in page.get("Contents", []):
                key = str(item["Key"])
                if key > start_after and not key.endswith("/"):
                    yield ListedObject(bucket, key, int(item.get("Size", 0)), item.get("LastModified"))
            token = page.get("NextContinuationToken")
            if not page.get("IsTruncated") or not token:
                return

    def ping(self, bucket: str | None = None) -> None:
        """Raise ``DependencyError`` unless the service (or this bucket) answers."""
        try:
            with _translated(bucket or "service"):
                if bucket:
                    self._client.head_bucket(Bucket=bucket)
                else:
                    self._client.list_buckets()
        except NotFoundError as exc:
            raise DependencyError("storage", f"bucket {bucket!r} does not exist") from exc


def _check_ref(bucket: str, name: str) -> None:
    if not bucket or "\x00" in bucket or "/" in bucket:
        raise InvalidEventError(f"invalid bucket name {bucket!r}")
    check_object_name(name)


def _headers(response: Mapping[str, Any]) -> Mapping[str, str]:
    headers: Mapping[str, str] = response.get("ResponseMetadata", {}).get("HTTPHeaders", {})
    return headers


def _reported_generation(response: Mapping[str, Any]) -> str | None:
    """The generation the service states: GCS's header, else a real VersionId."""
    gcs = _headers(response).get(_GCS_GENERATION)
    if gcs:
        return str(gcs)
    version = response.get("VersionId")
    if version and version != "null":
        return str(version)
    return None


def _generation(response: Mapping[str, Any]) -> str:
    """The generation of a GET/HEAD response, derived from ETag + Last-Modified if not stated."""
    reported = _reported_generation(response)
    if reported is not None:
        return reported
    etag = str(response.get("ETag", "")).strip('"')
    modified: Any = response.get("LastModified")
    stamp = modified.isoformat() if hasattr(modified, "isoformat") else str(modified or "")
    return "e" + hashlib.sha256(f"{etag}|{stamp}".encode()).hexdigest()[:24]


@contextmanager
def _translated(where: str) -> Iterator[None]:
    """Turn boto3/botocore exceptions raised in the block into the project's error tree."""
    try:
        yield
    except ClientError as exc:
        raise _client_error(exc, where) from exc
    except BotoCoreError as exc:
        raise DependencyError("storage", f"{where}: {exc}") from exc


def _client_error(exc: ClientError, where: str) -> Exception:
    error = exc.response.get("Error", {})
    code = str(error.get("Code", ""))
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    if code in _NOT_FOUND or status == 404:
        return NotFoundError(f"no object {where} ({code or status})")
    return DependencyError("storage", f"{where}: {code or status} {error.get('Message', '')}".rstrip())
