"""A real single-node Elasticsearch 8 (``tests/es_node``: Elasticsearch's own jars from Maven
Central, started by the project's launcher) for the tests, the local stack and the benchmark.

``build()`` compiles the launcher once and resolves its classpath (Maven works offline when its
cache in ``~/.m2`` holds every jar); ``ElasticsearchNode(home).start()`` runs it on a free port
of 127.0.0.1 with its data under ``home`` and returns once ``/_cluster/health`` answers; ``stop()``
closes it cleanly (SIGTERM) and ``start()`` brings it back on the same port with its indices.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from stack.services import HOST, ServiceError, _spawn, free_port, http_status, stop, wait_ready

SOURCE = Path(__file__).resolve().parent.parent / "tests" / "es_node"
MAIN = "org.openfoodfacts.logoann.esnode.EsNode"
VERSION = "8.14.3"  # the pom's es.version
CLASSPATH = SOURCE / "target" / "classpath.txt"
CLASSES = SOURCE / "target" / "classes"
START_TIMEOUT_S = 120.0


def missing() -> str | None:
    """Why the node cannot be built here (None when it can)."""
    absent = [tool for tool in ("java", "mvn") if shutil.which(tool) is None]
    if absent:
        return f"{' and '.join(absent)} not on PATH (Java 17 and Maven build tests/es_node; apt-get install maven)"
    return None


def _built() -> bool:
    if not CLASSPATH.exists() or not (CLASSES / "org").exists():
        return False
    sources = [SOURCE / "pom.xml", *SOURCE.glob("src/**/*.java")]
    return CLASSPATH.stat().st_mtime >= max(path.stat().st_mtime for path in sources)


def build() -> list[str]:
    """Compile the launcher and resolve its jars (once); the classpath for ``java -cp``."""
    reason = missing()
    if reason:
        raise ServiceError(f"the Elasticsearch node cannot be built: {reason}")
    if not _built():
        goals = ["-B", "-q", "-f", str(SOURCE / "pom.xml"), "compile", "dependency:build-classpath",
                 f"-Dmdep.outputFile={CLASSPATH}"]  # fmt: skip
        offline = subprocess.run(["mvn", "-o", *goals], capture_output=True, text=True, check=False)
        if offline.returncode != 0:  # a jar is not in ~/.m2 yet: resolve from Maven Central
            online = subprocess.run(["mvn", *goals], capture_output=True, text=True, check=False)
            if online.returncode != 0:
                raise ServiceError(f"mvn could not build tests/es_node:\n{(online.stdout + online.stderr)[-3000:]}")
        CLASSPATH.touch()  # Maven leaves an unchanged file as it was
    return [str(CLASSES), *CLASSPATH.read_text().strip().split(":")]


class ElasticsearchNode:
    """One node process; ``home`` holds its data and logs (kept across ``stop``/``start``)."""

    def __init__(self, home: Path, port: int | None = None, heap: str = "1g") -> None:
        self.home, self.port, self.heap = Path(home), port or free_port(), heap
        self.url = f"http://{HOST}:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def log_path(self) -> Path:
        return self.home / "node.log"

    def command(self) -> list[str]:
        return ["java", f"-Xms{self.heap}", f"-Xmx{self.heap}", "-XX:+UseG1GC", "-Djava.awt.headless=true",
                "-cp", ":".join(build()), MAIN, "--home", str(self.home), "--port", str(self.port)]  # fmt: skip

    def ready(self) -> bool:
        return http_status(f"{self.url}/_cluster/health") == 200

    def start(self) -> ElasticsearchNode:
        if self.running():
            return self
        command = self.command()
        self.home.mkdir(parents=True, exist_ok=True)
        self.proc = _spawn(command, self.log_path)
        wait_ready(self.ready, self.proc, self.log_path, START_TIMEOUT_S)
        return self

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        """Close the node (SIGTERM: it flushes and releases its data folder's lock)."""
        stop(self.proc, timeout=60)
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()
