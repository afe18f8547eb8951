"""The served OpenAPI document: valid OpenAPI 3.1, and every operation it lists answers as it
says (each exercised once here, its answer validated); the event streams' media type is
checked by the events tests."""

from __future__ import annotations

from pathlib import Path

from switchboard.api.v1.app import ROUTES
from tests.support.harness import close_harness, open_harness
from tests.support.openapi_check import OpenApiChecker

ADMIN = "an-administrator-token-of-32-chars-or-more"
KEY = "a1b2c3d4e5"
STREAMS = {("get", "/api/v1/accounts/{account}/events/stream")}


async def test_every_operation_answers_as_documented(tmp_path: Path) -> None:
    sb = await open_harness(tmp_path, admin_token=ADMIN)
    try:
        served = await sb.client.get("/api/v1/openapi.json")
        assert served.status_code == 200
        assert served.headers["content-type"].startswith("application/json")
        oa = OpenApiChecker(served.json())
        documented = {
            (method, path) for path, item in oa.document["paths"].items() for method in item
        }
        # Every route of the router is in the document, and nothing else.
        routed = {
            (m.lower(), r.template)
            for r in ROUTES
            for m in r.methods
            if "openapi" not in r.template
        }
        assert documented == routed
        admin = {"Authorization": f"Bearer {ADMIN}"}
        account = await sb.headers(KEY)
        placed = await sb.place(
            {"from": {"agentId": "1234"}, "to": {"telephoneNumber": "02072068888"}}
        )
        call = placed.json()["id"]
        a = f"/api/v1/accounts/{KEY}"
        requests = [
            ("GET", "/api/v1/accounts", admin, None),
            ("POST", "/api/v1/accounts", admin, {"key": "k2"}),
            ("GET", a, admin, None),
            ("PATCH", a, admin, {"region": "emea"}),
            ("POST", "/api/v1/accounts/k2/api-token", admin, None),
            ("GET", f"{a}/agents", admin, None),
            ("POST", f"{a}/agents", admin, {"id": "77"}),
            ("GET", f"{a}/agents/77", admin, None),
            ("PATCH", f"{a}/agents/77", admin, {"name": "Seven"}),
            ("PUT", f"{a}/agents/77/state", admin, {"state": "Ready"}),
            ("GET", f"{a}/groups", admin, None),
            ("GET", f"{a}/groups/030", admin, None),
            ("POST", f"{a}/groups/new/members", admin, {"members": ["77"]}),
            ("GET", f"{a}/numbers", admin, None),
            ("POST", f"{a}/numbers", admin, {"number": "02079460000"}),
            ("GET", f"{a}/calls?limit=1", account, None),
            ("GET", f"{a}/calls/{call}", account, None),
            ("GET", f"{a}/calls/{call}/events", account, None),
            ("POST", f"{a}/calls/{call}/hangup", account, None),
            ("GET", f"{a}/events?after=0", account, None),
        ]
        for method, path, headers, body in requests:
            response = await sb.client.request(method, path, headers=headers, json=body)
            assert response.status_code < 300, (method, path, response.text)
            oa.check(response)
        # Webhooks: made here, then each operation on the one made.
        created = await sb.client.post(
            f"{a}/webhooks", headers=account, json={"url": "http://127.0.0.1:9/hooks"}
        )
        oa.check(created)
        hook = f"{a}/webhooks/{created.json()['id']}"
        event = (await sb.client.get(f"{a}/events", headers=account)).json()["events"][0]["id"]
        for method, path, body in [
            ("GET", f"{a}/webhooks", None),
            ("GET", hook, None),
            ("GET", f"{hook}/deliveries?limit=5", None),
            ("POST", f"{hook}/redeliver", {"eventId": event}),
            ("DELETE", hook, None),
        ]:
            response = await sb.client.request(method, path, headers=account, json=body)
            assert response.status_code < 300, (method, path, response.text)
            oa.check(response)
        assert documented - oa.seen == STREAMS
    finally:
        await close_harness(sb)
