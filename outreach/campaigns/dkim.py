"""``sender.dkim`` of a city: the DKIM selector, domain and key file, loaded to check it."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import (
    BaseModel,
    ConfigDict,
    ValidationInfo,
    field_validator,
    model_validator,
)

from outreach.dkim import load_key
from outreach.errors import DkimKeyError

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
DNS_NAME_RE = re.compile(rf"^{_LABEL}(?:\.{_LABEL})*$")


class DkimConfig(BaseModel):
    """``sender.dkim``: sign this city's mail with ``d=domain``, ``s=selector``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    selector: str
    domain: str
    key_file: Path  # PEM RSA or Ed25519 private key; relative to the working directory

    @field_validator("selector", "domain")
    @classmethod
    def _dns_name(cls, value: str, info: ValidationInfo) -> str:
        example = "s2026" if info.field_name == "selector" else "vantaa.fi"
        if not DNS_NAME_RE.match(value) or (info.field_name == "domain" and "." not in value):
            raise ValueError(f"expected a DNS name like {example}")
        return value.lower() if info.field_name == "domain" else value

    @model_validator(mode="after")
    def _key(self) -> DkimConfig:
        try:
            load_key(self.key_file)
        except DkimKeyError as exc:
            raise ValueError(str(exc)) from None
        return self
