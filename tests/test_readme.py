"""The README lists every command-line option, every web address and every campaign key,
and the package installs without setuptools warnings."""

from __future__ import annotations

import re
import tomllib

import click

from outreach.campaigns import AnnouncementCampaign, NewsletterCampaign, Section
from outreach.cli import main
from outreach.web import api, public
from tests.conftest import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")


def section(title: str) -> str:
    start = README.index(f"\n## {title}\n")
    end = README.find("\n## ", start + 1)
    return README[start : end if end > 0 else None]


def commands(group: click.Group, path: tuple[str, ...] = ()) -> list[tuple[str, click.Command]]:
    found = []
    for name, cmd in sorted(group.commands.items()):
        if isinstance(cmd, click.Group):
            found += commands(cmd, (*path, name))
        else:
            found.append((" ".join((*path, name)), cmd))
    return found


def test_every_command_and_option_is_in_the_readme() -> None:
    main.load_all()  # the command modules are imported when named
    text = section("Command line")
    missing = []
    for name, cmd in commands(main):
        lines = re.findall(rf"^ *outreach {re.escape(name)}(?: .*)?$(?:\n {{10,}}.*$)*", text, re.M)
        if not lines:
            missing.append(f"outreach {name}")
            continue
        for param in cmd.params:
            if isinstance(param, click.Option) and param.name != "help":
                flag = max(param.opts, key=len)
                if not any(flag in line for line in lines):
                    missing.append(f"outreach {name} {flag}")
    for param in main.params:
        flag = max(param.opts, key=len)
        if flag not in text:
            missing.append(f"outreach {flag}")
    assert missing == [], "document these in README.md, Command line"


def test_every_web_address_is_in_the_readme() -> None:
    text = section("Web addresses")
    paths = {
        getattr(r, "path", "") for router in (*public.ROUTERS, api.router) for r in router.routes
    }
    paths |= {"/healthz", "/openapi.json"}
    missing = sorted(p for p in paths if not re.search(rf"\s{re.escape(p)}(\s|$)", text))
    assert missing == [], "document these in README.md, Web addresses"


def test_every_campaign_key_is_in_the_readme() -> None:
    text = section("Campaign files")
    keys = set(NewsletterCampaign.model_fields) | set(AnnouncementCampaign.model_fields)
    keys |= set(Section.model_fields)
    missing = sorted(k for k in keys if f"`{k}`" not in text)
    assert missing == [], "document these in README.md, Campaign files"


def test_the_package_metadata_needs_no_deprecated_setuptools_forms() -> None:
    """``make demo`` installed with BuildBackendWarnings: a license table (deprecated
    since setuptools 77) and the import-hook editable install of a flat layout."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert isinstance(project["project"]["license"], str)  # an SPDX expression
    assert "setuptools>=77" in project["build-system"]["requires"]
    assert project["tool"]["setuptools"]["package-dir"] == {"": "."}  # a plain .pth
    makefile = (ROOT / "Makefile").read_text()
    # the venv's own setuptools is too old to build the package: always isolate
    assert "--no-build-isolation" not in makefile
