"""Tokens: roles and claims as API.md describes them."""

from __future__ import annotations

import time

import jwt
import pytest

from services.common.auth import ROLES, decode_token, issue_token
from services.common.errors import ApiError

SECRET = "unit-test-secret-that-is-long-enough"


@pytest.mark.parametrize("role", ROLES)
def test_each_role_round_trips(role):
    claims = {"department": "water"} if role == "department" else {"community": "武泰闸社区"}
    who = decode_token(SECRET, issue_token(SECRET, role=role, sub="u1", **claims))
    assert who.role == role and who.sub == "u1"
    if role == "department":
        assert who.department == "water" and who.actor.department == "water"


def test_department_token_needs_a_department():
    with pytest.raises(ValueError):
        issue_token(SECRET, role="department")
    forged = jwt.encode({"sub": "x", "role": "department", "exp": time.time() + 60}, SECRET, algorithm="HS256")
    with pytest.raises(ApiError) as raised:
        decode_token(SECRET, forged)
    assert raised.value.status == 401


def test_unknown_role_is_refused_on_issue_and_on_use():
    with pytest.raises(ValueError):
        issue_token(SECRET, role="mayor")
    forged = jwt.encode({"sub": "x", "role": "mayor", "exp": time.time() + 60}, SECRET, algorithm="HS256")
    with pytest.raises(ApiError):
        decode_token(SECRET, forged)


@pytest.mark.parametrize(
    "token_of",
    [
        lambda: issue_token(SECRET, role="staff", ttl=-10),
        lambda: issue_token("another-secret-of-sufficient-length", role="staff"),
        lambda: "not.a.token",
        lambda: jwt.encode({"sub": "x", "role": "staff"}, SECRET, algorithm="HS256"),  # no expiry
    ],
)
def test_bad_tokens_are_unauthenticated(token_of):
    with pytest.raises(ApiError) as raised:
        decode_token(SECRET, token_of())
    assert (raised.value.status, raised.value.code) == (401, "UNAUTHENTICATED")


def test_a_token_verified_once_is_refused_when_it_expires():
    token = issue_token(SECRET, role="staff", ttl=1)
    assert decode_token(SECRET, token).role == "staff"  # verified, and kept until it expires
    time.sleep(max(0.0, jwt.decode(token, SECRET, algorithms=["HS256"])["exp"] - time.time()) + 0.01)
    with pytest.raises(ApiError) as raised:
        decode_token(SECRET, token)
    assert raised.value.message == "The token has expired."


def test_a_token_verified_under_one_secret_is_refused_under_another():
    token = issue_token(SECRET, role="admin")
    assert decode_token(SECRET, token).role == "admin"
    with pytest.raises(ApiError) as raised:
        decode_token("a-rotated-secret-of-sufficient-length", token)
    assert raised.value.status == 401
