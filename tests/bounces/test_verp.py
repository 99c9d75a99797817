"""Signed VERP return paths: round trip, forgery, length."""

from __future__ import annotations

from outreach.verp import delivery_of, return_path

SECRET = b"k" * 32


def test_round_trip() -> None:
    address = return_path(SECRET, "bounces@news.example.fi", 123456789)
    assert address.endswith("@news.example.fi")
    assert len(address.partition("@")[0]) <= 64
    assert delivery_of(SECRET, address) == 123456789
    assert delivery_of(SECRET, address.upper()) == 123456789  # servers may fold case
    assert delivery_of(SECRET, f"<{address}>") == 123456789


def test_forged_or_unsigned_names_nothing() -> None:
    address = return_path(SECRET, "bounces@news.example.fi", 7)
    local, _, domain = address.partition("@")
    base, _, signed = local.partition("+")
    _, _, mac = signed.partition("-")
    assert delivery_of(b"x" * 32, address) is None  # another key
    assert delivery_of(SECRET, f"{base}+8-{mac}@{domain}") is None  # another id
    assert delivery_of(SECRET, f"{base}+07-{mac}@{domain}") is None  # another spelling
    assert delivery_of(SECRET, f"{base}+7@{domain}") is None  # unsigned
    assert delivery_of(SECRET, "bounces+user=example.fi@news.example.fi") is None
    assert delivery_of(SECRET, "bounces@news.example.fi") is None
