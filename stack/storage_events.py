"""The Eventarc stand-in as one process: the filer webhook bridge (``storage_bridge``) and the
bucket sweep (``storage_sweep``) beside it.

    python -m stack.storage_events --port P --detect-url URL --s3-endpoint URL --bucket B
"""

from __future__ import annotations

import argparse
import logging
import threading
from typing import Any

from common.adapters.s3_image_store import S3ImageStore
from stack.storage_bridge import Bridge, BridgeServer
from stack.storage_sweep import Sweeper

log = logging.getLogger("storage_bridge")


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="SeaweedFS filer webhook -> storage CloudEvents")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--detect-url", required=True)
    parser.add_argument("--s3-endpoint", required=True)
    parser.add_argument("--bucket", required=True)
    parser.add_argument("--deadline", type=float, default=120.0, help="seconds to keep retrying one event")
    parser.add_argument("--sweep-interval", type=float, default=5.0, help="seconds between sweeps (0: none)")
    parser.add_argument("--sweep-grace", type=float, default=10.0, help="age before a sweep sends an object")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = _parse(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    store = S3ImageStore(args.s3_endpoint, "us-east-1", "stack", "stack")
    bridge = Bridge(args.bucket, args.detect_url, store.stat, deadline_s=args.deadline)
    server = BridgeServer((args.host, args.port), bridge)
    log.info("bridging bucket %s to %s on http://%s:%d", args.bucket, args.detect_url, args.host, args.port)
    stop = threading.Event()
    if args.sweep_interval > 0:
        sweeper = Sweeper(bridge, _client(args.s3_endpoint), args.sweep_grace, args.sweep_interval)
        threading.Thread(target=sweeper.run, args=(stop,), name="sweep", daemon=True).start()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        server.server_close()


def _client(endpoint: str) -> Any:
    import boto3
    from botocore.config import Config

    config = Config(s3={"addressing_style": "path"}, connect_timeout=2, read_timeout=10, retries={"max_attempts": 1})
    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="stack",
                        aws_secret_access_key="stack", config=config)  # fmt: skip


if __name__ == "__main__":
    main()
