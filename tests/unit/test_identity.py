"""Bearer tokens and roles: every forged, expired, foreign or malformed identity is refused."""

from __future__ import annotations

import time
from collections.abc import Iterator

import jwt
import pytest

from libs import identity
from libs.errors import NotFound, PermissionDenied, Unauthenticated
from libs.identity import Identity

SECRET = "unit-test-secret-long-enough-for-hs256-and-hs512-0123456789abcdef"
OTHER_SECRET = "another-secret-nobody-in-the-suite-knows-0123456789abcdef"


@pytest.fixture(autouse=True)
def _secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOP_JWT_SECRET", SECRET)


@pytest.fixture
def as_caller() -> Iterator[None]:
    """Makes alice, a stock keeper, the caller of the code under test."""
    token = identity.set_current(Identity("alice", frozenset({"stock_keeper"}), token="tok-123"))
    try:
        yield
    finally:
        identity.reset_current(token)


def _claims(**overrides: object) -> dict[str, object]:
    # Built when the tests are collected, which is minutes before these run in the full suite: a day of
    # validity, so that only the claim under test is wrong.
    now = int(time.time())
    claims: dict[str, object] = {
        "sub": "alice",
        "roles": ["stock_keeper"],
        "iss": identity.ISSUER,
        "aud": identity.AUDIENCE,
        "iat": now,
        "exp": now + 86_400,
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def test_mint_and_verify_round_trip() -> None:
    token = identity.mint_token("alice", ["stock_keeper", "qc_inspector", "stock_keeper"])
    who = identity.verify_token(token)
    assert who.subject == "alice"
    assert who.roles == frozenset({"stock_keeper", "qc_inspector"})
    assert who.token == token
    assert who.has_any(["qc_inspector", "hr_manager"])
    assert not who.has_any(["hr_manager"])


def test_token_is_signed_with_the_configured_secret() -> None:
    token = identity.mint_token("alice", ["sre"])
    claims = jwt.decode(token, SECRET, algorithms=["HS256"], audience=identity.AUDIENCE)
    assert claims["iss"] == identity.ISSUER
    assert claims["roles"] == ["sre"]
    assert claims["exp"] - claims["iat"] == 12 * 3600


def test_explicit_secret_round_trip() -> None:
    token = identity.mint_token("bob", ["executive"], secret=OTHER_SECRET)
    assert identity.verify_token(token, secret=OTHER_SECRET).subject == "bob"


def test_forged_signature_is_refused() -> None:
    forged = identity.mint_token("mallory", ["supervisor"], secret=OTHER_SECRET)
    with pytest.raises(Unauthenticated) as info:
        identity.verify_token(forged)
    assert info.value.reason == "TOKEN_INVALID"
    assert info.value.message.startswith("authorization:")


def test_expired_token_is_refused() -> None:
    token = identity.mint_token("alice", ["stock_keeper"], ttl_seconds=-60)
    with pytest.raises(Unauthenticated) as info:
        identity.verify_token(token)
    assert info.value.reason == "TOKEN_EXPIRED"
    assert "expired" in info.value.message


@pytest.mark.parametrize(
    "claims",
    [
        pytest.param(_claims(aud="someone-else"), id="wrong-audience"),
        pytest.param(_claims(iss="someone-else"), id="wrong-issuer"),
        pytest.param(_claims(aud=None), id="no-audience"),
        pytest.param(_claims(iss=None), id="no-issuer"),
        pytest.param(_claims(sub=None), id="no-subject"),
        pytest.param(_claims(exp=None), id="no-expiry"),
        pytest.param(_claims(roles="stock_keeper"), id="roles-not-a-list"),
        pytest.param(_claims(roles=["sre", 7]), id="role-not-a-string"),
    ],
)
def test_tokens_with_bad_claims_are_refused(claims: dict[str, object]) -> None:
    token = jwt.encode(claims, SECRET, algorithm="HS256")
    with pytest.raises(Unauthenticated) as info:
        identity.verify_token(token)
    assert info.value.reason == "TOKEN_INVALID"


def test_token_with_another_algorithm_is_refused() -> None:
    token = jwt.encode(_claims(), SECRET, algorithm="HS512")
    with pytest.raises(Unauthenticated):
        identity.verify_token(token)


def test_hand_made_valid_token_is_accepted() -> None:
    token = jwt.encode(_claims(sub="carol", roles=["after_sales"]), SECRET, algorithm="HS256")
    who = identity.verify_token(token)
    assert who.subject == "carol"
    assert who.roles == frozenset({"after_sales"})


def test_bearer_header_is_parsed() -> None:
    token = identity.mint_token("alice", ["stock_keeper"])
    for header in (f"Bearer {token}", f"bearer {token}", f"Bearer   {token}  "):
        who = identity.identity_from_header(header)
        assert who.subject == "alice"
        assert who.token == token


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (None, "TOKEN_MISSING"),
        ("", "TOKEN_MISSING"),
        ("Basic x", "TOKEN_INVALID"),
        ("Bearer", "TOKEN_INVALID"),
        ("Bearer   ", "TOKEN_INVALID"),
        ("Bearer not-a-jwt", "TOKEN_INVALID"),
    ],
)
def test_malformed_headers_are_refused(header: str | None, reason: str) -> None:
    with pytest.raises(Unauthenticated) as info:
        identity.identity_from_header(header)
    assert info.value.reason == reason
    assert info.value.code == "UNAUTHENTICATED"


def test_unknown_role_is_refused_when_minting() -> None:
    with pytest.raises(PermissionDenied) as info:
        identity.mint_token("alice", ["stock_keeper", "god", "admin"])
    assert "admin, god" in info.value.message
    assert "stock_keeper" not in info.value.message


def test_token_without_subject_is_not_minted() -> None:
    with pytest.raises(Unauthenticated):
        identity.mint_token("", ["stock_keeper"])


def test_current_without_a_caller_is_unauthenticated() -> None:
    with pytest.raises(Unauthenticated) as info:
        identity.current()
    assert info.value.reason == "TOKEN_MISSING"
    with pytest.raises(Unauthenticated):
        identity.require_role("stock_keeper")


@pytest.mark.usefixtures("as_caller")
def test_require_role_returns_the_caller_holding_a_role() -> None:
    who = identity.require_role("warehouse_supervisor", "stock_keeper")
    assert who.subject == "alice"
    assert identity.current() is who


@pytest.mark.usefixtures("as_caller")
def test_require_role_refuses_naming_the_roles() -> None:
    with pytest.raises(PermissionDenied) as info:
        identity.require_role("hr_manager", "executive")
    err = info.value
    assert err.message == "role: needs one of executive, hr_manager"
    assert err.reason == "ROLE_REQUIRED"
    assert err.metadata == {"required_roles": "executive,hr_manager"}


def test_reset_current_restores_the_previous_caller() -> None:
    outer = identity.set_current(Identity("alice", frozenset({"sre"})))
    try:
        inner = identity.set_current(Identity("bob", frozenset({"executive"})))
        assert identity.current().subject == "bob"
        identity.reset_current(inner)
        assert identity.current().subject == "alice"
    finally:
        identity.reset_current(outer)
    with pytest.raises(Unauthenticated):
        identity.current()


@pytest.mark.usefixtures("as_caller")
def test_outgoing_metadata_forwards_the_token() -> None:
    assert identity.outgoing_metadata() == [("authorization", "Bearer tok-123")]


def test_outgoing_metadata_is_empty_without_a_caller_or_token() -> None:
    assert identity.outgoing_metadata() == []
    token = identity.set_current(Identity("svc", frozenset({"integrator"}), token=""))
    try:
        assert identity.outgoing_metadata() == []
    finally:
        identity.reset_current(token)


def test_an_integrator_acts_only_for_the_shops_and_channels_its_token_names():
    token = identity.mint_token("tmall-app", ["integrator"], shops=["tmall-flagship"], channels=["tmall"])
    caller = identity.verify_token(token)
    assert caller.scoped
    assert caller.acts_for("tmall-flagship", "tmall")
    assert not caller.acts_for("jd-outlet", "tmall")
    assert not caller.acts_for("tmall-flagship", "jd")
    with pytest.raises(NotFound) as exc:
        identity.require_shop("jd-outlet", field="order_id", of=caller)
    assert exc.value.violations[0].field == "order_id"


def test_an_integrator_token_must_name_its_shops():
    with pytest.raises(PermissionDenied):
        identity.mint_token("anyone", ["integrator"])
    every = identity.verify_token(identity.mint_token("erp", ["integrator"], shops=["*"]))
    assert every.acts_for("any-shop", "jd")


def test_staff_and_services_are_not_scoped_to_shops():
    staff = identity.verify_token(identity.mint_token("cs-1", ["customer_service"]))
    assert not staff.scoped and staff.acts_for("any-shop", "tmall")
    worker = identity.service_identity("orders", ["integrator"])
    assert worker.acts_for("any-shop", "jd")
    assert identity.verify_token(worker.token).acts_for("any-shop", "jd")
