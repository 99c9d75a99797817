"""The per-recipient fill: whatever the body and the values, the message
parses back to exactly the substituted text, with lines of at most 76."""

from __future__ import annotations

from email import message_from_bytes, policy
from email.message import EmailMessage

from hypothesis import example, given, settings
from hypothesis import strategies as st

from outreach.campaigns import Sender
from outreach.delivery.message import (
    CONTACT_NAME,
    PREFERENCES_URL,
    UNSUBSCRIBE_URL,
    MessageTemplate,
    Recipient,
)
from outreach.delivery.qp import encode, qp
from tests.delivery.conftest import FakeRendered

SENDER = Sender(name={"fi": "Vantaa"}, address="ilmasto@vantaa.fi")
CHUNKS = st.one_of(
    st.text(st.sampled_from(list("aä ö\t=.-<>\"'€x\n")), max_size=120),
    st.sampled_from([UNSUBSCRIBE_URL, PREFERENCES_URL, CONTACT_NAME, " " * 80, "=" * 90]),
)


def body_of(msg: EmailMessage, kind: str) -> str:
    part = msg.get_body((kind,))
    assert part is not None
    # Parsed from CRLF bytes, the payload keeps CRLF line ends.
    return str(part.get_content()).replace("\r\n", "\n")


@settings(max_examples=200, deadline=None)
@example(chunks=[], name="", dot=0)  # an empty body
@example(chunks=["\n", "@@CONTACT_NAME@@"], name="", dot=0)  # an empty value after a line end
# b2a_qp itself makes a 77-character line when an escaped trailing space ends it
@example(chunks=["<<<<<<", "<<<<<==ä€", "<<<<<<<<<ää€", "<<<=ä "], name="", dot=0)
@example(chunks=[".x"], name="", dot=0)  # a body line that starts with a dot
@example(chunks=[], name="", dot=75 - 52)  # a link's second line does
@given(
    chunks=st.lists(CHUNKS, max_size=12),
    name=st.text(st.sampled_from(list("Ää Öö=x.")), max_size=90),
    dot=st.integers(0, 100),
)
def test_fill_decodes_to_the_substituted_text(chunks: list[str], name: str, dot: int) -> None:
    text = "".join(chunks)
    rendered = FakeRendered("fi", "S", "", text, text)
    template = MessageTemplate(SENDER, "fi", rendered, list_id="<a.b.outreach>")
    unsub = "https://outreach.example.fi/unsubscribe/u12.abc_-DEF" + "x" * dot + ".y" + "x" * 20
    prefs = "https://outreach.example.fi/preferences/p12.abc"
    filled = template.fill(Recipient("a@example.fi", "<1@vantaa.fi>", unsub, prefs, name))
    data = filled.data
    # What the SMTP backend relies on instead of scanning the message.
    assert filled.dot_lines == (data.startswith(b".") or b"\n." in data)
    _, _, body = data.partition(b"\r\n\r\n")
    assert max(len(line) for line in body.split(b"\r\n")) <= 76
    assert b"\n" not in data.replace(b"\r\n", b"")
    msg = message_from_bytes(data, policy=policy.default)
    assert isinstance(msg, EmailMessage)
    # The template's own trailing line ends give way to the skeleton's one, and
    # only then are the values filled in (an empty value leaves what precedes it).
    skeleton = text.replace("\r\n", "\n").rstrip("\n")
    # The name slot follows the greeting word: a space and the name, or nothing.
    filled = f" {name.strip()}" if name.strip() else ""
    expected = (
        skeleton.replace(UNSUBSCRIBE_URL, unsub)
        .replace(PREFERENCES_URL, prefs)
        .replace(CONTACT_NAME, filled)
    )
    # Line ends become CRLF on the wire and come back as \n.
    assert body_of(msg, "plain") == expected.replace("\r\n", "\n") + "\n"
    html_name = filled.replace("&", "&amp;")
    want_html = skeleton.replace(UNSUBSCRIBE_URL, unsub).replace(PREFERENCES_URL, prefs)
    want_html = want_html.replace(CONTACT_NAME, html_name)
    assert body_of(msg, "html") == want_html.replace("\r\n", "\n") + "\n"


@settings(max_examples=400, deadline=None)
@example(text=".")  # encoded when alone on its line
@example(text="a" * 75 + ".")  # ... also after a soft break
@example(text="x" * 75)
@example(text="x" * 76)
@example(text="https://outreach.example.fi/unsubscribe/u4e20.6b0ee913." + "A" * 30)
@given(text=st.text(st.sampled_from(list("ab.=~!<> \tä-_/:")), max_size=250))
def test_qp_shortcut_encodes_as_b2a_qp(text: str) -> None:
    """Values with nothing to encode skip binascii; the bytes are the same."""
    assert qp(text) == encode(text)
