"""Fakes of the ports, for service tests. Each passes the contract suite of its port."""

from tests.fakes.clock import FakeClock
from tests.fakes.events import FakeEventPublisher
from tests.fakes.storage import FakeDatabase, FakeUnitOfWork, FakeUnitOfWorkFactory

__all__ = [
    "FakeClock",
    "FakeDatabase",
    "FakeEventPublisher",
    "FakeUnitOfWork",
    "FakeUnitOfWorkFactory",
]
