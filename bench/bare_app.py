"""The baseline of bench/hot_path.py: a bare Starlette endpoint on the server stack Switchboard
uses (uvicorn with uvloop and httptools), answering any request with a small JSON body."""

from __future__ import annotations

import socket
import sys

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


async def endpoint(request: Request) -> JSONResponse:
    await request.body()
    return JSONResponse({"id": "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", "status": "Active"})


app = Starlette(routes=[Route("/{path:path}", endpoint, methods=["GET", "POST"])])


def main() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(2048)
    sys.stdout.write(f"Listening on http://127.0.0.1:{sock.getsockname()[1]}\n")
    sys.stdout.flush()
    config = uvicorn.Config(app, loop="uvloop", http="httptools", log_level="warning")
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    main()
