"""A flood of crop requests, in a process of its own (so its threads do not share the measuring
process's interpreter lock).

``connections`` keep-alive connections each send their next request once the last is answered
and ``1 / rate`` seconds have passed since it was sent (``rate`` 0: at once), each for another
image URL (so no memory of a miss absorbs it). The flood stops when its standard input closes,
or after ``seconds`` at most, and prints one JSON line: answers by status, how many 503s carried
``Retry-After``, client errors (timeouts, resets).

    python -m tests.reliability.flood --port 8080 --image-base https://127.0.0.1:9999/x \
        --connections 32 --rate 20 --seconds 10
"""

from __future__ import annotations

import argparse
import http.client
import json
import sys
import threading
import time
import urllib.parse
from collections import Counter

BOX = "&y_min=0&x_min=0&y_max=1&x_max=1"


def flood(
    port: int, image_base: str, connections: int, rate: float, seconds: float, timeout_s: float
) -> dict[str, object]:
    statuses: Counter[int] = Counter()
    retry_after = Counter[str]()
    errors: Counter[str] = Counter()
    lock = threading.Lock()
    stop = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
    deadline = time.monotonic() + seconds

    def worker(n: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout_s)
        i = 0
        sent = 0.0
        while time.monotonic() < deadline and not stop.is_set():
            if rate > 0 and (pause := sent + 1 / rate - time.monotonic()) > 0:
                time.sleep(pause)
            sent = time.monotonic()
            i += 1
            image = urllib.parse.quote(f"{image_base}/{n}-{i}.jpg", safe="")
            try:
                conn.request("GET", f"/api/v1/images/crop?image_url={image}{BOX}")
                response = conn.getresponse()
                response.read()
            except (OSError, http.client.HTTPException) as exc:
                with lock:
                    errors[type(exc).__name__] += 1
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout_s)
                continue
            with lock:
                statuses[response.status] += 1
                if response.status == 503 and response.getheader("Retry-After"):
                    retry_after["503"] += 1
        conn.close()

    threads = [threading.Thread(target=worker, args=(n,), daemon=True) for n in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(seconds + timeout_s + 5)
    return {
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "retry_after_503": retry_after["503"],
        "errors": dict(errors),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--image-base", required=True)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rate", type=float, default=0.0, help="requests/s per connection at most (0: no pause)")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--timeout", type=float, default=30.0)
    args = parser.parse_args()
    report = flood(args.port, args.image_base, args.connections, args.rate, args.seconds, args.timeout)
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    main()
