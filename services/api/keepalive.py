"""`Connection: close` on an answer sent before the request body was read to its end.

Why: many refusals come before the body is read (401 without a key, 403, 404 for a
malformed id, 405, 413, 415, 400 for a bad header). Hypercorn then cannot reuse the
connection, since the rest of the body is still on the wire, and closes it after the
answer without saying so; a client that reuses the connection (httpx, requests) sends its
next request into a closing socket and gets "server disconnected". Announcing the close
(RFC 9112 9.6) makes the client open a new connection instead. Answers to requests whose
body was read, or that have none, keep the connection alive.

A bare ASGI wrapper: it only watches `http.request` messages and adds one header; it must
never read, buffer or log a body itself.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

CLOSE = (b"connection", b"close")


def announces_body(headers: list[tuple[bytes, bytes]]) -> bool:
    for name, value in headers:
        if name == b"content-length":
            return value.strip() not in (b"", b"0")
        if name == b"transfer-encoding":
            return True
    return False


class CloseWhenBodyUnread:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not announces_body(scope["headers"]):
            await self.app(scope, receive, send)
            return
        body_read = False

        async def receive_and_note() -> Message:
            nonlocal body_read
            message = await receive()
            if message["type"] == "http.request" and not message.get("more_body", False):
                body_read = True
            return message

        async def send_and_announce(message: Message) -> None:
            if message["type"] == "http.response.start" and not body_read:
                headers = list(message.get("headers", []))
                if not any(name.lower() == b"connection" for name, _ in headers):
                    message = {**message, "headers": [*headers, CLOSE]}
            await send(message)

        await self.app(scope, receive_and_note, send_and_announce)
