"""The operator commands of operations.md, through click's runner on a real SQLite file."""

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from switchboard.cli import main


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("SWITCHBOARD_DATABASE_URL", url)
    return url


def sb(*args: str) -> Any:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def ok(*args: str) -> str:
    result = sb(*args)
    assert result.exit_code == 0, (result.output, result.stderr)
    return result.stdout


def provision() -> str:
    token = ok("accounts", "create", "acme", "--wrapup-seconds", "0").strip()
    ok("numbers", "add", "acme", "01256636451")
    ok("numbers", "add", "acme", "08008888888", "--default")
    ok("agents", "add", "acme", "1234", "--name", "Ann", "--phone", "sim:answer?after=100")
    ok(
        "agents",
        "add",
        "acme",
        "4567",
        "--callback-number",
        "01256636451",
        "--allowed-number",
        "01256636451",
    )
    ok("groups", "add", "acme", "030", "1234", "4567")
    return token


def test_accounts_create_prints_only_the_api_token(db: str) -> None:
    token = provision()
    assert token and all(c.isalnum() or c in "-_" for c in token)
    rows = [json.loads(line) for line in ok("accounts", "list", "--json").splitlines()]
    assert rows[0]["key"] == "acme"
    assert rows[0]["defaultCallbackNumber"] == "08008888888"
    assert rows[0]["wrapupSeconds"] == 0


def test_agents_list_json_has_the_documented_keys(db: str) -> None:
    provision()
    rows = [json.loads(line) for line in ok("agents", "list", "acme", "--json").splitlines()]
    assert [r["id"] for r in rows] == ["1234", "4567"]
    assert {"id", "state", "phone", "currentCall"} <= set(rows[0])
    assert rows[0]["phone"] == "sim:answer?after=100" and rows[0]["state"] == "Ready"


@pytest.mark.parametrize("state", ["away", "48", "XAWAY", "-16"])
def test_agents_state_takes_names_in_any_case_or_codes(db: str, state: str) -> None:
    provision()
    ok("agents", "state", "acme", "1234", state)
    rows = [json.loads(line) for line in ok("agents", "list", "acme", "--json").splitlines()]
    assert rows[0]["state"] in {"Away", "XAway", "LoggedOut"}


def test_token_prints_a_bearer_token(db: str) -> None:
    provision()
    assert ok("token", "acme").count(".") == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["accounts", "create", "bad-key"], "account key"),
        (["agents", "add", "acme", "12x"], "agent id"),
        (["agents", "add", "acme", "999", "--phone", "sim:explode"], "unknown sim: word"),
        (["agents", "add", "acme", "999", "--phone", "http://x"], "unsupported phone URI"),
        (
            ["agents", "add", "acme", "999", "--callback-number", "02072068888"],
            "not a callback number",
        ),
        (
            [
                "agents",
                "add",
                "acme",
                "999",
                "--callback-number",
                "01256636451",
                "--allowed-number",
                "08008888888",
            ],
            "must include the default",
        ),
        (["numbers", "add", "acme", "12345"], "not a valid number"),
        (["accounts", "create", "acme"], "already exists"),
        (["agents", "add", "acme", "1234"], "already exists"),
        (["agents", "add", "nobody", "1"], "unknown account"),
        (["accounts", "set", "acme", "--agent-timeout", "500"], "agent timeout"),
        (["groups", "add", "acme", "g1", "777"], "unknown agent"),
        (["calls", "end", "acme", "not-a-guid"], "not a GUID"),
    ],
)
def test_bad_input_exits_1_with_a_message_and_no_traceback(
    db: str, args: list[str], message: str
) -> None:
    provision()
    result = sb(*args)
    assert result.exit_code == 1, result.output
    assert message in result.stderr
    assert "Traceback" not in result.output + result.stderr


@pytest.mark.parametrize(
    "args", [["agents", "state", "acme", "1234", "Sleeping"], ["nonsense"], ["accounts", "create"]]
)
def test_usage_errors_exit_2(db: str, args: list[str]) -> None:
    provision()
    assert sb(*args).exit_code == 2


def test_bad_setting_stops_with_one_line_naming_it(
    db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SWITCHBOARD_TOKEN_TTL_SECONDS", "soon")
    result = sb("accounts", "list")
    assert result.exit_code == 1
    assert result.stderr.strip().count("\n") == 0
    assert "SWITCHBOARD_TOKEN_TTL_SECONDS" in result.stderr


def test_unknown_setting_is_refused_by_name(db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWITCHBOARD_TOKEN_TTL", "10")
    result = sb("accounts", "list")
    assert result.exit_code == 1 and "SWITCHBOARD_TOKEN_TTL" in result.stderr


def test_config_file_is_the_lowest_precedence(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SWITCHBOARD_DATABASE_URL", raising=False)
    file_db = tmp_path / "file.db"
    option_db = tmp_path / "option.db"
    config = tmp_path / "sb.toml"
    config.write_text(f'database_url = "sqlite:///{file_db}"\n')
    ok("--config", str(config), "accounts", "create", "fromfile")
    assert file_db.exists()
    ok(
        "--config",
        str(config),
        "accounts",
        "create",
        "fromoption",
        "--database",
        f"sqlite:///{option_db}",
    )
    assert "fromoption" not in ok("--config", str(config), "accounts", "list", "--json")
    config.write_text("nonsense_key = 1\n")
    result = sb("--config", str(config), "accounts", "list")
    assert result.exit_code == 1 and "nonsense_key" in result.stderr


def test_calls_list_and_end_drive_a_simulated_call(db: str) -> None:
    import asyncio

    from switchboard.bootstrap import build
    from switchboard.config import load_settings
    from switchboard.domain.placement import PlaceCallRequest
    from switchboard.service import calls

    provision()

    async def place() -> str:
        runtime = await build(load_settings(), open_engine=False)
        try:
            call = await calls.place_call(
                runtime.ctx,
                "acme",
                PlaceCallRequest(from_agent_id="1234", to_telephone_number="02072068888"),
            )
            return call.id
        finally:
            await runtime.close()

    call_id = asyncio.run(place())
    rows = [json.loads(line) for line in ok("calls", "list", "acme", "--json").splitlines()]
    assert (
        rows[0]["id"] == call_id and rows[0]["status"] == "Active" and rows[0]["agentId"] == "1234"
    )
    ok("calls", "end", "acme", call_id.upper(), "--by", "destination")
    rows = [json.loads(line) for line in ok("calls", "list", "acme", "--json").splitlines()]
    assert rows[0]["status"] is None
    assert rows[0]["result"] == {"code": "Failure", "party": "Destination", "reason": "Normal"}
    agents = [json.loads(line) for line in ok("agents", "list", "acme", "--json").splitlines()]
    assert agents[0]["state"] == "Ready" and agents[0]["currentCall"] is None
    result = sb("calls", "end", "acme", call_id)
    assert result.exit_code == 1 and "The call is not in progress" in result.stderr


def test_new_api_token_prints_a_different_token(db: str) -> None:
    first = provision()
    second = ok("accounts", "new-api-token", "acme").strip()
    assert second and second != first


def test_webhooks_commands_add_list_show_deliveries_redeliver_and_remove(db: str) -> None:
    provision()
    added = ok(
        "webhooks",
        "add",
        "acme",
        "https://crm.example.com/hooks",
        "--events",
        "call.ended,call.placed",
    )
    lines = dict(line.split(": ", 1) for line in added.splitlines())
    subscription = lines["subscription"]
    assert len(base64.b64decode(lines["secret"], validate=True)) == 32
    given = base64.b64encode(b"s" * 20).decode()
    second = ok("webhooks", "add", "acme", "http://127.0.0.1:9/x", "--secret", given)
    assert "secret" not in second
    rows = [json.loads(line) for line in ok("webhooks", "list", "acme", "--json").splitlines()]
    assert (rows[0]["id"], rows[0]["events"]) == (subscription, "call.ended,call.placed")
    assert len(rows) == 2
    assert ok("webhooks", "deliveries", "acme", subscription, "--json") == ""
    unknown = sb(
        "webhooks", "redeliver", "acme", subscription, "6f0c1d5e-9a55-4b53-9b8e-2f5c8c1a7e10"
    )
    assert unknown.exit_code == 1 and "no such event" in unknown.stderr
    ok("webhooks", "remove", "acme", subscription)
    assert len(ok("webhooks", "list", "acme", "--json").splitlines()) == 1
    again = sb("webhooks", "remove", "acme", subscription)
    assert again.exit_code == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["gopher://x/"], "url: only http and https URLs can receive webhooks"),
        (["http://x/", "--secret", "%%%"], "secret: expected the signing key in Base64"),
        (["http://x/", "--events", "call.nope"], "events: unknown event type 'call.nope'"),
    ],
)
def test_webhooks_add_refuses_bad_input_by_name(db: str, args: list[str], message: str) -> None:
    provision()
    result = sb("webhooks", "add", "acme", *args)
    assert result.exit_code == 1
    assert message in result.stderr


def test_webhooks_add_to_an_unknown_account_says_so(db: str) -> None:
    result = sb("webhooks", "add", "nobody", "http://x/")
    assert result.exit_code == 1 and "unknown account 'nobody'" in result.stderr
