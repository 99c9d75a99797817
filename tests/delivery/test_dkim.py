"""DKIM: messages from the real builder verify with dkimpy against the key's own
DNS record (served by a local function, no DNS), through the memory:, file: and
SMTP backends; tampering breaks them; bad key configuration is a one-line error."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dkim
import pytest

from outreach.campaigns import Sender, collect, load
from outreach.delivery import confirmation_mailer, send_issue
from outreach.delivery.backends import memory
from outreach.delivery.message import MessageTemplate, Recipient, send_transactional
from outreach.dkim import OVERSIGNED, DkimSigner, load_key
from outreach.errors import ConfigError, DkimKeyError
from outreach.settings import Settings
from outreach.subscriptions import ConfirmationMail
from tests.delivery.conftest import FakeRendered, SMTPServer, write_campaigns

SENDER = Sender(
    name={"fi": "Vantaan kaupunki, ilmasto"}, address="ilmasto@vantaa.fi", reply_to="a@vantaa.fi"
)
RENDERED = FakeRendered(
    "fi",
    "Ilmastouutiset ä ö",
    "",
    "<p>Hei@@CONTACT_NAME@@,  tervetuloa</p>\n" * 40 + '<a href="@@UNSUBSCRIBE_URL@@">Peru</a>',
    "Hei@@CONTACT_NAME@@,\n\n" + "Uutinen ä ö.\n" * 40 + "Peru: @@UNSUBSCRIBE_URL@@\n",
)
REQUIRED = {
    "from",
    "subject",
    "date",
    "message-id",
    "to",
    "list-unsubscribe",
    "list-unsubscribe-post",
    "list-id",
    "mime-version",
    "content-type",
}


def openssl(*args: str) -> None:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    subprocess.run(["openssl", *args], check=True, capture_output=True)


@pytest.fixture(scope="session")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """RSA 2048 (PKCS#8 and PKCS#1), Ed25519, and keys that must be refused."""
    folder = tmp_path_factory.mktemp("dkim")
    paths = {
        name: folder / f"{name}.pem" for name in ("rsa", "rsa1", "other", "ed25519", "ec", "small")
    }
    openssl(
        "genpkey",
        "-algorithm",
        "RSA",
        "-pkeyopt",
        "rsa_keygen_bits:2048",
        "-out",
        str(paths["rsa"]),
    )
    openssl("pkey", "-in", str(paths["rsa"]), "-traditional", "-out", str(paths["rsa1"]))
    openssl("genpkey", "-algorithm", "RSA", "-out", str(paths["other"]))
    openssl("genpkey", "-algorithm", "ed25519", "-out", str(paths["ed25519"]))
    openssl(
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-out",
        str(paths["ec"]),
    )
    openssl(
        "genpkey",
        "-algorithm",
        "RSA",
        "-pkeyopt",
        "rsa_keygen_bits:512",
        "-out",
        str(paths["small"]),
    )
    return paths


@pytest.fixture(params=["rsa", "rsa1", "ed25519"])
def key_path(request: pytest.FixtureRequest, keys: dict[str, Path]) -> Path:
    if request.param == "ed25519":
        pytest.importorskip("nacl", reason="Ed25519 DKIM needs PyNaCl (dkimpy[ed25519])")
    return keys[request.param]


def dns_for(*signers: DkimSigner) -> Callable[..., bytes]:
    """A dnsfunc for dkim.verify answering each signer's TXT record, nothing else."""
    records = {f"{s.record_name}.".encode(): s.key.dns_record().encode() for s in signers}

    def lookup(name: bytes, timeout: int = 5) -> bytes:
        return records.get(name, b"")

    return lookup


def template(signer: DkimSigner, list_id: str | None = "<m.vantaa.outreach>") -> MessageTemplate:
    return MessageTemplate(SENDER, "fi", RENDERED, list_id=list_id, dkim=signer)


def recipient(n: int = 1) -> Recipient:
    return Recipient(
        f"user{n}@example.fi",
        f"<issue-1.sub-{n}@vantaa.fi>",
        f"https://outreach.example.fi/unsubscribe/tok{n}",
        f"https://outreach.example.fi/preferences/tok{n}",
        f"Yhteyshenkilö {n}",
    )


def signature_tags(data: bytes) -> dict[str, str]:
    header = re.match(rb"DKIM-Signature:(.*?)\r\n(?! )", data, re.S)
    assert header is not None, "no DKIM-Signature on top"
    value = re.sub(r"\s+", "", header.group(1).decode())
    return dict(part.split("=", 1) for part in value.split(";") if part)


def test_each_recipient_copy_verifies_and_h_covers_the_headers(key_path: Path) -> None:
    signer = DkimSigner.load("s2026", "vantaa.fi", key_path)
    t = template(signer)
    messages = [t.fill(recipient(n)) for n in (1, 2)]
    copies = [m.data for m in messages]
    for m in messages:  # the signature's lines are taken into account too
        assert m.dot_lines == (m.data.startswith(b".") or b"\n." in m.data)
    for data in copies:
        assert dkim.verify(data, dnsfunc=dns_for(signer))
    tags = [signature_tags(data) for data in copies]
    assert tags[0]["bh"] != tags[1]["bh"]  # the body differs per recipient
    assert tags[0]["d"] == "vantaa.fi" and tags[0]["s"] == "s2026"
    assert tags[0]["a"] == signer.key.algorithm and tags[0]["c"] == "relaxed/simple"
    h = tags[0]["h"].split(":")
    assert set(h) >= REQUIRED
    for name in ("from", "subject", "list-unsubscribe"):
        # signed once more than the message has it: no instance can be added
        assert h.count(name) == 2 and name in OVERSIGNED


def test_a_wrong_key_or_a_missing_record_fails(keys: dict[str, Path]) -> None:
    signer = DkimSigner.load("s2026", "vantaa.fi", keys["rsa"])
    other = DkimSigner.load("s2026", "vantaa.fi", keys["other"])
    data = template(signer).fill(recipient()).data
    assert not dkim.verify(data, dnsfunc=dns_for(other))
    assert not dkim.verify(data, dnsfunc=lambda name, timeout=5: b"")


def _replace_header(data: bytes, name: bytes, value: bytes) -> bytes:
    head, sep, body = data.partition(b"\r\n\r\n")
    lines = re.split(rb"\r\n(?![ \t])", head)
    out = [
        name + b": " + value if ln.split(b":", 1)[0].lower() == name.lower() else ln for ln in lines
    ]
    assert out != lines, name
    return b"\r\n".join(out) + sep + body


def _prepend_after_signature(data: bytes, line: bytes) -> bytes:
    end = re.match(rb"DKIM-Signature:.*?\r\n(?! )", data, re.S)
    assert end is not None
    return data[: end.end()] + line + b"\r\n" + data[end.end() :]


TAMPERING: dict[str, Callable[[bytes], bytes]] = {
    "From": lambda d: _replace_header(d, b"From", b"Vantaa <ilmasto@evil.example>"),
    "Subject": lambda d: _replace_header(d, b"Subject", b"Voitit arpajaisissa"),
    "List-Unsubscribe": lambda d: _replace_header(
        d, b"List-Unsubscribe", b"<https://evil.example/unsubscribe>"
    ),
    "List-Unsubscribe-Post": lambda d: _replace_header(d, b"List-Unsubscribe-Post", b"x=y"),
    "To": lambda d: _replace_header(d, b"To", b"someone@else.example"),
    "second From": lambda d: _prepend_after_signature(d, b"From: boss@evil.example"),
    "second Subject": lambda d: _prepend_after_signature(d, b"Subject: Lasku"),
    "second List-Unsubscribe": lambda d: _prepend_after_signature(
        d, b"List-Unsubscribe: <https://evil.example/u>"
    ),
    "body": lambda d: d[: d.rindex(b"tok1")] + b"tok9" + d[d.rindex(b"tok1") + 4 :],
    "appended body": lambda d: d + b"Lue lis\xc3\xa4\r\n",
}


@pytest.mark.parametrize("how", sorted(TAMPERING))
def test_tampering_breaks_the_signature(keys: dict[str, Path], how: str) -> None:
    signer = DkimSigner.load("s2026", "vantaa.fi", keys["rsa"])
    data = template(signer).fill(recipient()).data
    assert dkim.verify(data, dnsfunc=dns_for(signer))
    changed = TAMPERING[how](data)
    assert changed != data
    assert not dkim.verify(changed, dnsfunc=dns_for(signer))


def test_refolded_headers_still_verify(keys: dict[str, Path]) -> None:
    """c=relaxed headers: a relay that refolds or respaces a header breaks nothing."""
    signer = DkimSigner.load("s2026", "vantaa.fi", keys["rsa"])
    data = template(signer).fill(recipient()).data
    refolded = data.replace(
        b"Content-Type: multipart/alternative;\r\n ", b"Content-Type:   multipart/alternative;  "
    )
    assert refolded != data
    assert dkim.verify(refolded, dnsfunc=dns_for(signer))


def test_transactional_message_is_signed_and_blocks_list_headers(keys: dict[str, Path]) -> None:
    signer = DkimSigner.load("s2026", "vantaa.fi", keys["rsa"])
    data = template(signer, list_id=None).fill(recipient()).data
    assert b"List-Unsubscribe:" not in data
    assert dkim.verify(data, dnsfunc=dns_for(signer))
    assert "list-unsubscribe" in signature_tags(data)["h"]  # signed as absent
    added = _prepend_after_signature(data, b"List-Unsubscribe: <https://evil.example/u>")
    assert not dkim.verify(added, dnsfunc=dns_for(signer))


@pytest.mark.parametrize("backend", ["memory", "file", "smtp"])
def test_sent_messages_verify_through_each_backend(
    backend: str,
    world_factory: Any,
    keys: dict[str, Path],
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    """OUTREACH_DKIM_* as the fallback for a city without sender.dkim, through send_issue."""
    if backend == "memory":
        url = "memory:"
    elif backend == "file":
        url = f"file://{tmp_path / 'out'}"
    else:
        server: SMTPServer = request.getfixturevalue("smtp_server")
        url = server.url()
    w = world_factory(4, mail_url=url)
    w.settings = w.settings.model_copy(
        update={"dkim_selector": "s2026", "dkim_domain": "vantaa.fi", "dkim_key_file": keys["rsa"]}
    )
    report = send_issue(w.settings, w.config, w.issue_id)
    assert report.sent == 4
    if backend == "memory":
        received = [m.data for m in memory.outbox]
    elif backend == "file":
        received = [p.read_bytes() for p in sorted((tmp_path / "out").glob("*.eml"))]
    else:
        received = [data for _, data in server.handler.received]
    assert len(received) == 4
    signer = DkimSigner.load("s2026", "vantaa.fi", keys["rsa"])
    for data in received:
        assert dkim.verify(data, dnsfunc=dns_for(signer)), data[:400]


CITY_DKIM = """\
    sender:
      name: {fi: Vantaan kaupunki, sv: Vanda stad}
      address: ilmasto@vantaa.fi
      reply_to: elinkeinot@vantaa.fi
      dkim: {selector: s2026, domain: DOMAIN, key_file: "KEY"}
"""


def campaigns_with_dkim(root: Path, key: Path | str, domain: str = "vantaa.fi") -> Path:
    write_campaigns(root)
    cities = root / "cities.yaml"
    text = cities.read_text()
    vantaa_sender = re.search(
        r"    sender:\n      name: \{fi: Vantaan.*?reply_to: [^\n]+\n", text, re.S
    )
    assert vantaa_sender is not None
    block = CITY_DKIM.replace("DOMAIN", domain).replace("KEY", str(key))
    cities.write_text(text.replace(vantaa_sender.group(0), block))
    return root


def test_city_sender_dkim_signs_transactional_mail(
    keys: dict[str, Path], tmp_path: Path, settings: Settings
) -> None:
    config = load(campaigns_with_dkim(tmp_path / "c", keys["rsa"]))
    assert config.cities["vantaa"].sender.dkim is not None
    result = send_transactional(settings, config, "vantaa", "new@example.fi", RENDERED)
    assert result.ok
    signer = DkimSigner.load("s2026", "vantaa.fi", keys["rsa"])
    assert dkim.verify(memory.outbox[-1].data, dnsfunc=dns_for(signer))
    # Kerava has no sender.dkim and no OUTREACH_DKIM_*: unsigned.
    send_transactional(settings, config, "kerava", "new@example.fi", RENDERED)
    assert not memory.outbox[-1].data.startswith(b"DKIM-Signature:")


def vantaa_left_out(root: Path) -> str:
    """The one error line of a folder whose cities.yaml gives Vantaa a bad DKIM
    setting: Vantaa is left out with its campaigns, the other cities load."""
    config, errors = collect(root)
    assert config is not None and config.left_out == {"vantaa"}
    assert "kerava" in config.cities and "vantaa" not in config.cities
    lines = [e for e in errors if e.split(": ", 1)[0].endswith("cities.yaml")]
    assert len(lines) == 1 and "\n" not in lines[0], errors
    return lines[0]


def one_line_error(exc: pytest.ExceptionInfo[Exception]) -> str:
    message = str(exc.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("missing", "cannot read it"),
        ("folder", "cannot read it"),
        ("garbage", "not a PEM private key"),
        ("ec", "not an RSA or Ed25519 private key"),
        ("small", "at least 1024"),
        ("public", "PUBLIC KEY, not an RSA or Ed25519 private key"),
    ],
)
def test_bad_key_file_is_a_one_line_error_naming_it(
    keys: dict[str, Path], tmp_path: Path, key: str, expected: str
) -> None:
    path = keys.get(key, tmp_path / f"{key}.pem")
    if key == "folder":
        path.mkdir()
    elif key == "garbage":
        path.write_text("not a key\n")
    elif key == "public":
        openssl("pkey", "-in", str(keys["rsa"]), "-pubout", "-out", str(path))
    with pytest.raises(DkimKeyError) as direct:
        load_key(path)
    assert str(path) in one_line_error(direct) and expected in str(direct.value)
    message = vantaa_left_out(campaigns_with_dkim(tmp_path / "c", path))
    assert "sender.dkim" in message and str(path) in message


def test_dkim_domain_must_align_with_the_sender(keys: dict[str, Path], tmp_path: Path) -> None:
    aligned = vantaa_left_out(campaigns_with_dkim(tmp_path / "a", keys["rsa"], domain="kerava.fi"))
    assert "dkim.domain kerava.fi must be the sender's domain vantaa.fi" in aligned
    named = vantaa_left_out(campaigns_with_dkim(tmp_path / "b", keys["rsa"], domain="vantaa"))
    assert "a DNS name" in named
    # A parent domain aligns (relaxed DMARC alignment).
    sub = Sender(name={"fi": "V"}, address="ilmasto@uutiset.vantaa.fi")
    signer = DkimSigner.load("s2026", "vantaa.fi", keys["rsa"])
    MessageTemplate(sub, "fi", RENDERED, dkim=signer)
    with pytest.raises(ConfigError, match="does not match the sender"):
        MessageTemplate(
            sub, "fi", RENDERED, dkim=DkimSigner.load("s", "uutiset2.vantaa.fi", keys["rsa"])
        )


def test_settings_fallback_is_all_or_nothing_and_must_align(
    keys: dict[str, Path], world_factory: Any, settings: Settings
) -> None:
    with pytest.raises(ValueError, match="set all three or none"):
        Settings(dkim_selector="s2026", dkim_domain="vantaa.fi")
    w = world_factory(1)
    fallback = settings.model_copy(
        update={"dkim_selector": "s2026", "dkim_domain": "vantaa.fi", "dkim_key_file": keys["rsa"]}
    )
    with pytest.raises(ConfigError, match="city kerava") as exc:
        send_transactional(fallback, w.config, "kerava", "a@example.fi", RENDERED)
    one_line_error(exc)
    missing = fallback.model_copy(update={"dkim_key_file": keys["rsa"].with_name("nope.pem")})
    with pytest.raises(DkimKeyError, match=r"nope\.pem: cannot read it"):
        send_transactional(missing, w.config, "vantaa", "a@example.fi", RENDERED)
    assert memory.outbox == []


def test_dns_record_matches_the_key(keys: dict[str, Path]) -> None:
    rsa = load_key(keys["rsa"])
    assert rsa.bits == 2048 and rsa.dns_record().startswith("v=DKIM1; k=rsa; p=MIIBIjAN")
    der = subprocess.run(
        ["openssl", "pkey", "-in", str(keys["rsa"]), "-pubout", "-outform", "DER"],
        check=True,
        capture_output=True,
    ).stdout
    assert rsa.public_key == der
    assert load_key(keys["rsa1"]).public_key == der


def test_openssl_rsa_gives_dkimpys_signature(keys: dict[str, Path]) -> None:
    """With ``cryptography`` installed RSA signs through OpenSSL: the same bytes."""
    pytest.importorskip("cryptography")
    pure = DkimSigner("s2026", "vantaa.fi", load_key(keys["rsa1"], use_openssl=False))
    fast = DkimSigner("s2026", "vantaa.fi", load_key(keys["rsa1"]))
    assert fast.key.sign_digest is not pure.key.sign_digest
    for text in (b"", b"DKIM-Signature"):
        assert pure.key.sign_digest(hashlib.sha256(text)) == fast.key.sign_digest(
            hashlib.sha256(text)
        )
    data = template(fast).fill(recipient()).data
    assert dkim.verify(data, dnsfunc=dns_for(pure))


def test_cli_prints_the_txt_record_to_publish(
    keys: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from outreach.cli.dkim import dkim as dkim_group
    from outreach.settings import get_settings

    monkeypatch.setenv(
        "OUTREACH_CAMPAIGNS_DIR", str(campaigns_with_dkim(tmp_path / "c", keys["rsa"]))
    )
    monkeypatch.setenv("OUTREACH_CONFIG", os.devnull)
    monkeypatch.chdir(tmp_path)  # the default var/ database is the test's, not the checkout's
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(dkim_group, ["record"])
        assert result.exit_code == 0, result.output
        line = next(ln for ln in result.output.splitlines() if ln.startswith("s2026."))
        assert line.startswith("s2026._domainkey.vantaa.fi. IN TXT ( ")
        chunks = re.findall(r'"([^"]*)"', line)
        assert all(len(c) <= 255 for c in chunks) and len(chunks) == 2
        assert "".join(chunks) == load_key(keys["rsa"]).dns_record()
        assert "; kerava: not signed" in result.output
        result = CliRunner().invoke(dkim_group, ["record", "espoo"])
        assert result.exit_code == 1 and "no city espoo" in result.output
    finally:
        get_settings.cache_clear()


def test_each_confirmation_mail_of_a_batch_is_signed_for_itself(
    keys: dict[str, Path], tmp_path: Path, settings: Settings
) -> None:
    """The kept template signs each filled mail over its own To, Message-ID and link."""
    config = load(campaigns_with_dkim(tmp_path / "c", keys["rsa"]))
    signer = DkimSigner.load("s2026", "vantaa.fi", keys["rsa"])
    memory.clear()
    with confirmation_mailer(settings, config).batch() as send:
        for i in range(3):
            send(
                ConfirmationMail(
                    to=f"new{i}@example.fi", city_slug="vantaa", city_name="Vantaa", lang="fi",
                    confirm_url=f"https://outreach.example.fi/confirm/c{i}.a.b?x=1&y=<{i}>",
                    subject="Vahvista", topics=["Ilmasto"],
                )
            )  # fmt: skip
        assert len(send.templates) == 1  # type: ignore[attr-defined]
    assert len(memory.outbox) == 3
    for stored in memory.outbox:
        assert stored.data.startswith(b"DKIM-Signature:")
        assert dkim.verify(stored.data, dnsfunc=dns_for(signer))
    # the first mail with the second's link does not verify
    first = memory.outbox[0].data
    swapped = first.replace(b"c0.a.b", b"c1.a.b")
    assert swapped != first
    assert not dkim.verify(swapped, dnsfunc=dns_for(signer))
