"""The public face: sign-up and a subscriber's own pages, the archive and its feed, the
story form, the published stories, company directory and feeds, the widget, each city's
stylesheet and accessibility statement.

Each module is a router; :data:`ROUTERS` lists them in the order the app
mounts them (fixed paths before ``/{city}/…`` ones).
"""

from fastapi import APIRouter

from outreach.web.public import archive, showcase, signup, site, stories, widget

ROUTERS: tuple[APIRouter, ...] = (
    archive.router,
    stories.router,
    showcase.router,
    widget.router,
    site.router,
    signup.router,
)

__all__ = ["ROUTERS"]
