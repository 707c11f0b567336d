"""Password hashes, bearer tokens and the directory of users (pure logic, no services)."""

from __future__ import annotations

import pytest

from web.auth import Directory, hash_password, new_token, token_digest, verify_password
from web.exceptions import ConfigError
from web.settings import TokenEntry, UserEntry


def test_password_hash_verifies_only_the_password() -> None:
    encoded = hash_password("s3cret")
    assert encoded.startswith("scrypt$")
    assert "s3cret" not in encoded
    assert verify_password("s3cret", encoded)
    assert not verify_password("s3cret ", encoded)
    assert hash_password("s3cret") != encoded  # salted


def test_a_hash_that_is_not_scrypt_says_how_to_make_one() -> None:
    with pytest.raises(ConfigError, match="triage web hash-password"):
        verify_password("x", "plain-text-password")


def test_directory_signs_in_users_and_tokens_with_their_roles() -> None:
    token, digest = new_token()
    assert token_digest(token) == digest
    directory = Directory(
        {
            "ana": UserEntry(password_hash=hash_password("pw")),
            "olga": UserEntry(password_hash=hash_password("pw"), role="ops"),
        },
        {"helpdesk": TokenEntry(token_sha256=digest)},
    )
    ana = directory.sign_in("ana", "pw")
    assert ana is not None
    assert ana.can_review
    assert ana.via == "session"
    olga = directory.sign_in("olga", "pw")
    assert olga is not None
    assert not olga.can_review
    assert directory.sign_in("ana", "wrong") is None
    assert directory.sign_in("nobody", "pw") is None
    client = directory.bearer(token)
    assert client is not None
    assert client.name == "helpdesk"
    assert client.via == "token"
    assert directory.bearer(token + "x") is None
    assert directory.user("removed") is None
