"""What a Lambda container creates once and reuses: configuration, clients, store, fan-out.

Everything is built lazily on first use, so importing a handler costs only the imports, and
tests can swap the whole runtime (`set_runtime`) or drop it (`reset`).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING

import boto3
from botocore.config import Config as BotoConfig

from switchboard.broadcast import Broadcaster
from switchboard.config import Config
from switchboard.history import History
from switchboard.room_index import RoomIndex
from switchboard.store import Store

if TYPE_CHECKING:
    from mypy_boto3_apigatewaymanagementapi.client import ApiGatewayManagementApiClient
    from mypy_boto3_dynamodb.client import DynamoDBClient


class Runtime:
    """The per-container singletons, keyed where they depend on the event."""

    def __init__(self, config: Config) -> None:
        self.config = config
        # LOG_LEVEL (template parameter LogLevel) applies to every switchboard.* logger.
        logging.getLogger("switchboard").setLevel(config.log_level)
        self._lock = threading.Lock()
        self._store: Store | None = None
        self._history: History | None = None
        self._room_index: RoomIndex | None = None
        self._dynamodb: DynamoDBClient | None = None
        self._broadcasters: dict[str, Broadcaster] = {}
        self._background: ThreadPoolExecutor | None = None

    def _dynamodb_client(self) -> DynamoDBClient:
        if self._dynamodb is None:
            # Standard retry mode backs off on throttling and transient 5xx.
            self._dynamodb = boto3.client(
                "dynamodb",
                config=BotoConfig(retries={"mode": "standard", "max_attempts": 6}),
            )
        return self._dynamodb

    @property
    def store(self) -> Store:
        with self._lock:
            if self._store is None:
                self._store = Store(self._dynamodb_client(), self.config.table_name)
            return self._store

    @property
    def history(self) -> History:
        with self._lock:
            if self._history is None:
                self._history = History(
                    self._dynamodb_client(),
                    self.config.table_name,
                    self.config.history_retention_seconds,
                )
            return self._history

    @property
    def room_index(self) -> RoomIndex:
        store = self.store
        with self._lock:
            if self._room_index is None:
                self._room_index = RoomIndex(
                    self._dynamodb_client(),
                    store,
                    registration_seconds=self.config.connection_ttl_seconds,
                )
            return self._room_index

    def in_background(self, work: Callable[[], None]) -> Future[None]:
        """Run work beside the caller's (storing history while the fan-out runs)."""
        with self._lock:
            if self._background is None:
                self._background = ThreadPoolExecutor(max_workers=4, thread_name_prefix="bg")
            return self._background.submit(work)

    def broadcaster(self, event_endpoint: str) -> Broadcaster:
        """The fan-out for this API's `@connections` endpoint.

        Configuration wins; then the standard `AWS_ENDPOINT_URL[_APIGATEWAYMANAGEMENTAPI]`
        variables (boto3 reads them itself); then `https://{domainName}/{stage}`.
        """
        endpoint = self.config.management_endpoint or event_endpoint
        store = self.store
        with self._lock:
            broadcaster = self._broadcasters.get(endpoint)
            if broadcaster is None:
                broadcaster = Broadcaster(
                    _management_client(
                        self.config.management_endpoint
                        or (None if _endpoint_from_environment() else event_endpoint),
                        self.config.fanout_concurrency,
                    ),
                    store,
                    concurrency=self.config.fanout_concurrency,
                )
                self._broadcasters[endpoint] = broadcaster
            return broadcaster


def _endpoint_from_environment() -> bool:
    return bool(
        os.environ.get("AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI")
        or os.environ.get("AWS_ENDPOINT_URL")
    )


def management_config(pool: int) -> BotoConfig:
    """The `@connections` client's settings (scripts/bench_gateway.py prices a post with them)."""
    # Retries are the broadcaster's job (it counts them); botocore must not retry on its own.
    return BotoConfig(
        max_pool_connections=pool,
        retries={"mode": "standard", "total_max_attempts": 1},
        connect_timeout=2,
        read_timeout=5,
    )


def _management_client(endpoint: str | None, pool: int) -> ApiGatewayManagementApiClient:
    return boto3.client(
        "apigatewaymanagementapi", endpoint_url=endpoint, config=management_config(pool)
    )


_current: Runtime | None = None
_current_lock = threading.Lock()


def current() -> Runtime:
    global _current  # noqa: PLW0603 - one Runtime per container is the point
    with _current_lock:
        if _current is None:
            _current = Runtime(Config.from_env())
        return _current


def set_runtime(runtime: Runtime | None) -> None:
    global _current  # noqa: PLW0603 - one Runtime per container is the point
    with _current_lock:
        _current = runtime


def reset() -> None:
    set_runtime(None)
