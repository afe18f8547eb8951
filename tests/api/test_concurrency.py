"""Reservation is atomic: 50 simultaneous group calls for 10 free agents."""

import asyncio
from collections import Counter

from tests.support.harness import Harness

KEY = "a1b2c3d4e5"


async def test_fifty_group_calls_for_ten_free_agents(sb_any: Harness) -> None:
    sb = sb_any
    ids = [str(2000 + i) for i in range(10)]
    for agent_id in ids:
        await sb.add_agent(KEY, agent_id)
    from switchboard.service import provisioning

    await provisioning.add_group(sb.ctx, KEY, "busy10", ids)
    headers = await sb.headers()
    body = {"from": {"groups": ["busy10"]}, "to": {"telephoneNumber": "02072068888"}}

    async def one() -> tuple[int, dict[str, str]]:
        response = await sb.client.post(f"/v0/{KEY}/calls/", json=body, headers=headers)
        return response.status_code, response.json()

    results = await asyncio.gather(*(one() for _ in range(50)))
    statuses = Counter(status for status, _ in results)
    assert statuses == {201: 10, 400: 40}
    busy = [b for s, b in results if s == 400]
    assert all(b == {"message": "Unable to place call - Agent number busy"} for b in busy)
    chosen = [b["from"]["agentId"] for s, b in results if s == 201]
    assert sorted(chosen) == ids  # every agent once, none twice
    for agent_id in ids:
        agent = await sb.agent(agent_id)
        assert agent.state.label == "BusyOutgoing" and agent.current_call_id is not None
