"""The public face: sign-up and a subscriber's own pages, the archive, stories.

Each module is a router; :data:`ROUTERS` lists them in the order the app
mounts them (fixed paths before ``/{city}/…`` ones).
"""

from fastapi import APIRouter

from outreach.web.public import archive, signup, stories

ROUTERS: tuple[APIRouter, ...] = (archive.router, stories.router, signup.router)

__all__ = ["ROUTERS"]
