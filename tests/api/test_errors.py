"""The error boundary: storage failures and surprises never leak a traceback."""

from typing import Any

import httpx
import pytest

from switchboard.adapters.numbering import LibPhoneNumberPlan
from switchboard.adapters.tokens import JwtAccessTokens, Sha256SecretHasher
from switchboard.api.app import create_app
from switchboard.domain.errors import StorageUnavailable
from switchboard.service.context import Context
from tests.fakes import FakeClock, FakeEventPublisher
from tests.fakes.engine import ScriptedEngine

SECRET = "k" * 40


class BrokenStorage:
    def __init__(self, error: Exception) -> None:
        self.error = error

    def __call__(self, *, write: bool = True) -> Any:
        raise self.error


def app_over(storage: BrokenStorage) -> Any:
    ctx = Context(
        uow=storage,
        clock=FakeClock(),
        engine=ScriptedEngine(),
        numbers=LibPhoneNumberPlan(),
        tokens=JwtAccessTokens(SECRET),
        hasher=Sha256SecretHasher(),
        publisher=FakeEventPublisher(),
    )
    return create_app(ctx), ctx


@pytest.mark.parametrize(
    ("error", "status", "message"),
    [
        (
            StorageUnavailable("db: connection refused (OSError)"),
            503,
            "The service is temporarily unavailable.",
        ),
        (RuntimeError("boom"), 500, "An error has occurred."),
    ],
)
async def test_failures_answer_with_fixed_texts(
    error: Exception, status: int, message: str
) -> None:
    app, ctx = app_over(BrokenStorage(error))
    token, _ = ctx.tokens.issue("acme", 1, ctx.clock.now())
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t"
    ) as client:
        response = await client.get(
            "/v0/acme/agents/1", headers={"Authorization": f"Bearer {token}"}
        )
    assert response.status_code == status
    assert response.json() == {"message": message}
    assert "boom" not in response.text and "refused" not in response.text
