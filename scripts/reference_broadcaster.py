"""The in-memory reference for scripts/bench_gateway.py: the single-process textbook chat.

One FastAPI app, one dict of open WebSockets, no storage and no processes: a `sendmessage`
is sent, as the same envelope, to every other member, then acknowledged to the sender.
It speaks the gateway's client protocol (`/prod?name=X`, the `message` and `sent` frames),
so the benchmark drives both servers with the same clients.

    python scripts/reference_broadcaster.py --port 0    # prints "READY <port>", then serves
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import socket
import time
import uuid
from typing import Any

import uvicorn
from fastapi import FastAPI, WebSocket, WebSocketDisconnect

app = FastAPI()
#: Everyone is in the lobby, as on the gateway: connection id -> its WebSocket.
members: dict[str, WebSocket] = {}
_ids = itertools.count(1)


@app.websocket("/prod")
async def chat(websocket: WebSocket, name: str = "guest") -> None:
    await websocket.accept()
    connection_id = f"ref-{next(_ids)}"
    members[connection_id] = websocket
    try:
        while True:
            message: Any = json.loads(await websocket.receive_text())
            if not isinstance(message, dict) or message.get("action") != "sendmessage":
                await websocket.send_text(json.dumps({"type": "error", "error": "unknown_action"}))
                continue
            message_id = uuid.uuid4().hex
            envelope = json.dumps(
                {
                    "type": "message",
                    "room": "lobby",
                    "from": {"connectionId": connection_id, "name": name},
                    "data": message.get("data"),
                    "id": message_id,
                    "ts": int(time.time() * 1000),
                },
                separators=(",", ":"),
            )
            delivered = 0
            for other_id, other in list(members.items()):
                if other_id == connection_id:
                    continue
                # A member that left mid-broadcast must not stop the rest of it.
                with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):
                    await other.send_text(envelope)
                    delivered += 1
            ack = {"type": "sent", "id": message_id, "room": "lobby", "delivered": delivered}
            await websocket.send_text(json.dumps(ack, separators=(",", ":")))
    except WebSocketDisconnect:
        pass
    finally:
        members.pop(connection_id, None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    # Bind here so that port 0 works and the real port can be printed before serving.
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((args.host, args.port))
    listener.listen(1024)
    print(f"READY {listener.getsockname()[1]}", flush=True)
    config = uvicorn.Config(app, log_level="warning", ws_ping_interval=None, backlog=1024)
    uvicorn.Server(config).run(sockets=[listener])


if __name__ == "__main__":
    main()
