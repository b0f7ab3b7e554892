"""The PostgreSQL metadata store against a real server: the shared contract and PG specifics.

Each test gets a fresh, randomly named database, dropped afterwards. The admin connection comes
from ``LOGO_ANN_TEST_PG_URL`` (default ``postgresql://postgres@127.0.0.1:5432/postgres``); the
tests that need the server are skipped, with the reason, when it cannot be reached.
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pg8000.dbapi
import pytest

from common.adapters.migrations import MIGRATIONS
from common.adapters.postgres_store import PostgresStore
from common.adapters.sql.pg_url import parse_database_url
from common.domain import Box, Detection, ObjectRef
from common.errors import ConfigError, DependencyError
from stack.pg import scratch_database
from tests.conftest import free_port
from tests.store_contract import StoreContract

pytestmark = pytest.mark.integration


Raw = Callable[[str], list[tuple[Any, ...]]]


@pytest.fixture
def database_url() -> Iterator[str]:
    with scratch_database("logo_ann_test") as url:
        yield url


@pytest.fixture
def open_store(database_url: str) -> Iterator[Callable[[], PostgresStore]]:
    opened: list[PostgresStore] = []

    def factory() -> PostgresStore:
        opened.append(PostgresStore(database_url, pool_size=2))
        return opened[-1]

    yield factory
    for store in opened:
        store.close()


@pytest.fixture
def store(open_store: Callable[[], PostgresStore]) -> PostgresStore:
    return open_store()


@pytest.fixture
def raw(database_url: str) -> Iterator[Raw]:
    conn = pg8000.dbapi.connect(**parse_database_url(database_url))
    conn.autocommit = True

    def run(sql: str) -> list[tuple[Any, ...]]:
        cursor = conn.cursor()
        cursor.execute(sql)
        return [tuple(row) for row in cursor.fetchall()] if cursor.description else []

    yield run
    conn.close()


@pytest.fixture
def stored_bytes(raw: Raw) -> Callable[[int], bytes]:
    """A logo's vector as PostgreSQL holds it: the row's bytea."""

    def read(logo_id: int) -> bytes:
        ((blob,),) = raw(f"SELECT vector FROM embedding WHERE logo_id = {int(logo_id)}")
        return bytes(blob)

    return read


class TestPostgresContract(StoreContract):
    pass


def test_schema_types(store: PostgresStore, raw: Raw) -> None:
    image, _ = store.upsert_image(ObjectRef("b", "n"), None, None)
    (logo,) = store.record_detections(image.id, 2, 2, [Detection(Box(0, 0, 1, 1), 1.0, "x")], "d")
    store.save_embeddings([logo.id], np.ones((1, 512), dtype=np.float32), "clip", "robotoff-v1")
    store.set_neighbours(logo.id, [7], [0.5])
    assert raw("SELECT octet_length(vector), dim FROM embedding") == [(2048, 512)]
    assert raw("SELECT jsonb_typeof(nearest_neighbors), nearest_neighbors->'logo_ids' FROM logo") == [("object", [7])]
    assert raw("SELECT pg_typeof(created_at)::text FROM image") == [("timestamp with time zone",)]


def test_concurrent_migrations_on_a_fresh_database(database_url: str, raw: Raw) -> None:
    barrier = threading.Barrier(3)
    opened: list[PostgresStore] = []
    failures: list[BaseException] = []

    def open_one() -> None:
        barrier.wait()
        try:
            opened.append(PostgresStore(database_url, pool_size=1))
        except BaseException as exc:  # collected and asserted below
            failures.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    for store in opened:
        store.close()
    assert failures == [] and len(opened) == 3
    assert raw("SELECT version FROM schema_migrations ORDER BY version") == [(m.version,) for m in MIGRATIONS]


def test_reconnects_after_the_server_drops_connections(store: PostgresStore, raw: Raw, database_url: str) -> None:
    image, _ = store.upsert_image(ObjectRef("b", "before.jpg"), None, None)
    name = database_url.rsplit("/", 1)[1]
    killed = raw(
        f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}' AND pid <> pg_backend_pid()"
    )
    assert killed and all(ok for (ok,) in killed)
    assert store.get_image(image.id) == image
    store.ping()


def test_every_stale_pooled_connection_is_replaced(database_url: str, raw: Raw) -> None:
    store = PostgresStore(database_url, pool_size=3)
    try:
        held = [store.db.pool.acquire() for _ in range(3)]  # three open connections, then idle
        for conn in held:
            store.db.pool.release(conn)
        name = database_url.rsplit("/", 1)[1]
        killed = raw(
            f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
            " AND pid <> pg_backend_pid()"
        )
        assert len(killed) == 3
        assert store.embedding_count() == 0
        assert store.upsert_image(ObjectRef("b", "after.jpg"), None, None)[1] is True
    finally:
        store.close()


def test_connections_send_without_waiting_for_acknowledgements(store: PostgresStore) -> None:
    # with Nagle's algorithm on, a statement sent in two writes waits for the server's delayed ack
    import socket

    conn = store.db.connect()
    try:
        assert conn._usock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    finally:
        conn.close()


def test_closed_store_is_a_dependency_error(store: PostgresStore) -> None:
    store.close()
    with pytest.raises(DependencyError, match="closed"):
        store.ping()


def test_unreachable_server_is_a_dependency_error() -> None:
    url = f"postgresql://postgres@127.0.0.1:{free_port()}/nothing"
    with pytest.raises(DependencyError, match="postgresql") as caught:
        PostgresStore(url)
    assert caught.value.dependency == "postgresql"


# --- URL parsing (no server needed) ---------------------------------------------------------


def test_url_with_credentials_and_ssl() -> None:
    args = parse_database_url("postgresql://app%40x:p%2Fss%3Aw@db.example:6543/logos?sslmode=require")
    assert (args["user"], args["password"], args["host"], args["port"], args["database"]) == (
        "app@x",
        "p/ss:w",
        "db.example",
        6543,
        "logos",
    )
    assert args["ssl_context"] is True and "unix_sock" not in args


def test_url_with_cloud_sql_socket() -> None:
    args = parse_database_url("postgresql://app:secret@/logos?host=/cloudsql/proj:europe-west1:db")
    assert args["unix_sock"] == "/cloudsql/proj:europe-west1:db/.s.PGSQL.5432"
    assert (args["host"], args["ssl_context"], args["database"]) == (None, False, "logos")


def test_url_ssl_modes() -> None:
    base = "postgresql://u@h/d?sslmode="
    assert parse_database_url(base + "disable")["ssl_context"] is False
    assert parse_database_url(base + "prefer")["ssl_context"] is None
    full = parse_database_url(base + "verify-full")["ssl_context"]
    assert isinstance(full, ssl.SSLContext) and full.check_hostname and full.verify_mode == ssl.CERT_REQUIRED
    ca = parse_database_url(base + "verify-ca")["ssl_context"]
    assert isinstance(ca, ssl.SSLContext) and not ca.check_hostname and ca.verify_mode == ssl.CERT_REQUIRED


@pytest.mark.parametrize(
    "url",
    [
        "mysql://u@h/d",
        "postgresql://u@h:notaport/d",
        "postgresql://u@h/",
        "postgresql://u@h/d?sslmode=sometimes",
        "postgresql://u@h/d?bogus=1",
        "postgresql://u@/d?host=relative/dir",
        "postgresql://u@h/d?connect_timeout=-1",
    ],
)
def test_bad_urls_name_the_variable(url: str) -> None:
    with pytest.raises(ConfigError, match="LOGO_ANN_DATABASE_URL"):
        parse_database_url(url)


def test_binary_copy_rows_read_back_as_written(database_url: str, raw: Raw) -> None:
    """The embeddings' binary ``COPY`` (built by numpy) against PostgreSQL's own parser."""
    import datetime as dt
    import io

    from common.adapters.sql.vectors import binary_copy

    raw(
        "CREATE TABLE copied (logo_id BIGINT, vector BYTEA, dim INTEGER, embedder_version TEXT,"
        " crop_recipe TEXT, created_at TIMESTAMPTZ)"
    )
    vectors = np.random.default_rng(3).standard_normal((3, 5)).astype("<f4")
    now = dt.datetime(2026, 3, 4, 5, 6, 7, 891011, tzinfo=dt.UTC)
    data = binary_copy([7, 2**40, 9], vectors, ("clip:v1", "recipe-é", now))
    conn = pg8000.dbapi.connect(**parse_database_url(database_url))
    try:
        conn.cursor().execute("COPY copied FROM STDIN (FORMAT binary)", stream=io.BytesIO(data))
        conn.commit()
    finally:
        conn.close()
    rows = raw("SELECT logo_id, vector, dim, embedder_version, crop_recipe, created_at FROM copied ORDER BY logo_id")
    assert [row[0] for row in rows] == [7, 9, 2**40]
    by_id = {row[0]: row for row in rows}
    for logo_id, vector in zip([7, 2**40, 9], vectors, strict=True):
        _, blob, dim, version, recipe, created = by_id[logo_id]
        assert bytes(blob) == vector.tobytes() and dim == 5 and (version, recipe) == ("clip:v1", "recipe-é")
        assert created == now
