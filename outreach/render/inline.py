"""CSS inlining with premailer: run once per issue language, never per recipient.

Rules a mail client cannot take inline (media queries for small screens and
dark mode) stay in one ``<style>`` block in the head. Nothing is fetched: no
external stylesheet is allowed in an email.
"""

from __future__ import annotations

import logging

from premailer import Premailer

from outreach.errors import RenderError


def inline_css(html: str) -> str:
    """``html`` with its ``<style>`` rules moved into ``style`` attributes."""
    try:
        inliner = Premailer(
            html,
            allow_network=False,
            allow_loading_external_files=False,
            disable_validation=True,
            remove_classes=False,
            strip_important=False,
            # keep the width/height attributes written in the templates (Outlook
            # reads them); CSS widths such as 100% stay in the style attribute
            disable_basic_attributes=["width", "height"],
            cssutils_logging_level=logging.CRITICAL,
        )
        out: str = inliner.transform(pretty_print=False)
    except Exception as exc:  # premailer raises many kinds (lxml, cssutils, its own)
        raise RenderError(f"CSS inlining failed: {exc.__class__.__name__}: {exc}") from exc
    if html.lstrip().lower().startswith("<!doctype") and not out.lower().startswith("<!doctype"):
        out = "<!DOCTYPE html>\n" + out
    return out
