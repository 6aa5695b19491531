"""Channels middleware: authenticate programmatic WebSocket clients by 'Authorization: Token <key>'."""
from channels.db import database_sync_to_async
from channels.middleware import BaseMiddleware
from rest_framework.authtoken.models import Token


@database_sync_to_async
def _token_user(key: str):
    token = Token.objects.select_related("user").filter(key=key).first()
    return token.user if token and token.user.is_active else None


class TokenAuthMiddleware(BaseMiddleware):
    """Sets scope["user"] from a DRF token header; browsers keep their session cookie user."""

    async def __call__(self, scope, receive, send):
        headers = dict(scope.get("headers", []))
        auth = headers.get(b"authorization", b"").decode("latin-1").split()
        if len(auth) == 2 and auth[0].lower() == "token":
            from django.contrib.auth.models import AnonymousUser

            scope = dict(scope, user=await _token_user(auth[1]) or AnonymousUser())
        return await super().__call__(scope, receive, send)
