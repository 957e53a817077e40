"""Bearer JWTs (HS256): issuing them (``whistle token``) and requiring roles on views."""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import wraps

import jwt
from flask import current_app, g, request

from . import context
from .errors import ApiError
from .events import Actor

ROLES = ("staff", "department", "auditor", "admin", "service")
ROLE_CLAIM = {"department": "department", "staff": "community"}
ALGORITHM = "HS256"


@dataclass(frozen=True)
class Identity:
    sub: str
    role: str
    department: str | None = None
    community: str | None = None

    @property
    def actor(self) -> Actor:
        return Actor(role=self.role, id=self.sub, department=self.department)


def issue_token(
    secret: str,
    *,
    role: str,
    sub: str | None = None,
    department: str | None = None,
    community: str | None = None,
    ttl: int = 12 * 3600,
) -> str:
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; one of {', '.join(ROLES)}")
    if role == "department" and not department:
        raise ValueError("a department token needs --department")
    now = int(time.time())
    claims = {"sub": sub or f"{role}-user", "role": role, "iat": now, "exp": now + ttl}
    if department:
        claims["department"] = department
    if community:
        claims["community"] = community
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def decode_token(secret: str, token: str) -> Identity:
    """The caller a bearer token names, or 401. A token verified before is not verified again
    until it expires: a client sends the same token with every request, and checking its HMAC
    and claims each time costs a web worker more than a case's duplicate check does."""
    verified = _verified.get((secret, token))
    if verified is not None and time.time() < verified[1]:
        return verified[0]
    try:
        claims = jwt.decode(token, secret, algorithms=[ALGORITHM], options={"require": ["exp", "sub"]})
    except jwt.ExpiredSignatureError as exc:
        raise ApiError(401, "UNAUTHENTICATED", "The token has expired.") from exc
    except jwt.InvalidTokenError as exc:
        raise ApiError(401, "UNAUTHENTICATED", f"The token is not valid: {exc}.") from exc
    role = claims.get("role")
    if role not in ROLES:
        raise ApiError(401, "UNAUTHENTICATED", "The token carries no known role.")
    if role == "department" and not claims.get("department"):
        raise ApiError(401, "UNAUTHENTICATED", "A department token must name its department.")
    identity = Identity(
        sub=str(claims["sub"]), role=role, department=claims.get("department"), community=claims.get("community")
    )
    if len(_verified) >= VERIFIED_KEPT:
        _verified.clear()  # crude, and enough: the tokens in use are verified again once
    _verified[(secret, token)] = (identity, float(claims["exp"]))
    return identity


VERIFIED_KEPT = 4096
_verified: dict[tuple[str, str], tuple[Identity, float]] = {}  # (secret, token) → (identity, expiry)


def current_identity() -> Identity:
    identity = g.get("identity")
    if identity is None:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise ApiError(401, "UNAUTHENTICATED", "Send 'Authorization: Bearer <token>'.")
        identity = decode_token(current_app.config["WHISTLE_SETTINGS"].jwt_secret, token.strip())
        g.identity = identity
        context.set_actor(identity.actor)
    return identity


def require(*roles: str):
    """View decorator: the caller must hold one of ``roles``."""

    def decorator(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            identity = current_identity()
            if identity.role not in roles:
                raise ApiError(
                    403, "FORBIDDEN", f"Role {identity.role!r} may not do this; needs one of: {', '.join(roles)}."
                )
            return view(*args, **kwargs)

        wrapper._whistle_roles = roles  # read by the OpenAPI security annotation and tests
        return wrapper

    return decorator
