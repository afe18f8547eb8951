"""``switchboard serve``: the HTTP server, the deadline loop and, with ``--demo``, the demo
account of VCC's examples."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import sys
from collections.abc import Iterator

import uvicorn

from switchboard.bootstrap import Runtime, build, tls_files
from switchboard.config import ConfigError, Settings
from switchboard.demo import prepare_demo
from switchboard.service import scheduler
from switchboard.service.nodes import NodeWatch
from switchboard.serving import limits, logs
from switchboard.serving.http import protocol_class

log = logging.getLogger(__name__)


async def _not_ready(scope: object, receive: object, send: object) -> None:
    raise RuntimeError("the application is set before serving")


class _Server(uvicorn.Server):
    """uvicorn, with signals handled by ``serve`` from its first line, so a SIGTERM during
    start-up is a clean stop too."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.listen(2048)
    sock.setblocking(False)
    return sock


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def connection_budget(settings: Settings) -> limits.Budget:
    """Raise the limit on open files where allowed, and split it (docs/operations.md)."""
    files = limits.raise_file_limit()
    try:
        return limits.budget(
            files,
            # TLS connections count against the same cap as TCP's.
            sip_tcp=settings.telephony == "sip"
            and (settings.sip_listen_tcp or settings.sip_listen_tls),
            http_max=settings.http_max_connections,
            sip_max=settings.sip_max_inbound_tcp,
        )
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


async def serve(settings: Settings, host: str, port: int, demo: bool) -> None:
    root = logging.getLogger()
    repeats = logs.install(settings.log_repeat_seconds, root.handlers)
    try:
        await _serve(settings, host, port, demo)
    finally:
        logs.uninstall(repeats, root.handlers)
        repeats.flush(log)


async def _serve(settings: Settings, host: str, port: int, demo: bool) -> None:
    budget = connection_budget(settings)
    log.info(
        "open files: %d; at most %d HTTP and %d SIP TCP connections, %d kept for the rest",
        budget.files,
        budget.http,
        budget.sip_tcp,
        budget.reserve,
    )
    tls = tls_files(settings)
    config = uvicorn.Config(
        _not_ready,
        log_level=settings.log_level,
        # uvicorn's lines go to the root logger, through the filter that holds back repeats.
        log_config=None,
        lifespan="off",
        access_log=settings.log_level == "debug",
        # uvloop where installed; httptools (a dependency), with a request timeout and a
        # connection cap added: about twice the requests per second of asyncio and h11.
        loop="auto",
        http=protocol_class(settings.http_header_timeout_seconds, budget.http),
        timeout_keep_alive=settings.http_idle_timeout_seconds,  # type: ignore[arg-type]
        # Forwarded headers are ours to trust or not (SWITCHBOARD_TRUST_FORWARDED_HEADERS);
        # uvicorn's own middleware would rewrite the client address on every request.
        proxy_headers=False,
        # HTTPS directly, for deployments without a TLS-terminating proxy in front.
        ssl_certfile=tls[0] if tls else None,
        ssl_keyfile=tls[1] if tls else None,
    )
    server = _Server(config)
    stop = asyncio.Event()
    runtime: Runtime | None = None

    def _stop() -> None:
        server.should_exit = True
        stop.set()
        if runtime is not None:
            # Event streams end now: uvicorn waits for open responses before it stops.
            runtime.ctx.hub.close()

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, _stop)
    runtime = await build(settings, sip_max_inbound_tcp=budget.sip_tcp or None)
    try:
        deadlines = scheduler.DeadlineLoop(runtime.ctx)
        runtime.ctx.wakeup = deadlines
        doorbell = await runtime.doorbell.open(settings.doorbell_host, deadlines.ring)
        watch = NodeWatch(
            runtime.ctx,
            doorbell=doorbell,
            heartbeat_s=settings.node_heartbeat_seconds,
            takeover_s=settings.node_takeover_seconds,
        )
        # Registered (the lease renewed) before recovering: a survivor about to take this
        # node over no longer does, so the two never drive the same calls.
        await watch.register()
        recovered = await scheduler.recover(runtime.ctx)
        if recovered:
            log.warning("ended %d calls left in progress by an earlier run", recovered)
        sock = _bind(host, port)
        bound_host, bound_port = sock.getsockname()[:2]
        shown = f"[{bound_host}]" if ":" in bound_host else bound_host
        base = f"{'https' if tls else 'http'}://{shown}:{bound_port}"
        _say(f"Listening on {base}")
        if demo:
            for label, value in await prepare_demo(runtime.ctx, settings.public_base_url or base):
                _say(f"{label}: {value}")
        timers = asyncio.create_task(deadlines.run())
        beats = asyncio.create_task(watch.run())
        # Its own task: a slow or dead receiver never holds up a request or a deadline.
        hooks = asyncio.create_task(runtime.webhooks.run()) if runtime.webhooks else None
        config.app = runtime.app()
        try:
            if not stop.is_set():
                await server.serve(sockets=[sock])
        finally:
            for task in (beats, timers, hooks):
                if task is None:
                    continue
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            sock.close()
    finally:
        await runtime.close()
