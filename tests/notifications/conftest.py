"""The API client of tests/api, for the notification tests."""

from tests.api.conftest import anyio_backend, make_client

__all__ = ["anyio_backend", "make_client"]
