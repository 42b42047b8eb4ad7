"""Shared settings for the real-client tests; the Rust driver
(tests/tests/python_clients.rs) starts the gateway and passes its addresses."""
import os

import pytest


@pytest.fixture(scope="session")
def base_url() -> str:
    return os.environ["SWITCHYARD_BASE_URL"]


@pytest.fixture(scope="session")
def api_key() -> str:
    return os.environ["SWITCHYARD_KEY"]


@pytest.fixture(scope="session")
def one_rpm_key() -> str:
    """A key allowed one request per minute (its own tenant)."""
    return os.environ["SWITCHYARD_ONE_RPM_KEY"]


@pytest.fixture(scope="session")
def no_budget_key() -> str:
    """A key whose budget is zero micro-dollars (its own tenant)."""
    return os.environ["SWITCHYARD_NO_BUDGET_KEY"]


@pytest.fixture(scope="session")
def grpc_target() -> str:
    return os.environ["SWITCHYARD_GRPC_TARGET"]


@pytest.fixture(scope="session")
def proto_root() -> str:
    return os.environ["SWITCHYARD_PROTO_ROOT"]
