# outreach: scheduler + send workers + web app in one image.
# Build:  docker build -t outreach .
# Run:    docker run -e OUTREACH_DATABASE_URL=... -e OUTREACH_SECRET_KEY=... outreach
#
# The base image is pinned by its exact version: Python 3.11.14 (3.11.10 and
# later carry the e-mail fixes of CVE-2023-27043 and CVE-2024-6923) on Debian
# 13 "trixie", whose libexpat1 (2.7.x, which Python links) has the 2.6.0
# entity-expansion fixes; bookworm's expat reports 2.5.0. `outreach status`
# and /healthz warn when either is older. Pinning by digest as well is better
# still: resolve it where the registry is reachable
# (`docker buildx imagetools inspect python:3.11.14-slim-trixie`) and write
# FROM python:3.11.14-slim-trixie@sha256:<digest>.
FROM python:3.11.14-slim-trixie AS base

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Dependencies first, from the lock file, so code changes reuse this layer.
COPY requirements/main.lock requirements/main.lock
RUN python -m pip install --require-hashes -r requirements/main.lock

COPY pyproject.toml README.md alembic.ini ./
COPY outreach/ outreach/
COPY alembic/ alembic/
COPY templates/ templates/
COPY campaigns/ campaigns/
COPY examples/ examples/
RUN python -m pip install --no-deps -e . \
    && useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin outreach \
    && mkdir -p /app/var \
    && chown -R outreach:outreach /app/var

USER outreach

ENV OUTREACH_DATABASE_URL=sqlite:////app/var/outreach.db \
    OUTREACH_MAIL_URL=file:///app/var/outbox \
    OUTREACH_CAMPAIGNS_DIR=/app/campaigns \
    OUTREACH_TEMPLATES_DIR=/app/templates \
    OUTREACH_VAR_DIR=/app/var

VOLUME ["/app/var"]
EXPOSE 8000

HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status == 200 else 1)"]

# Migrate, then run the scheduler, the send workers and the web app.
CMD ["sh", "-c", "outreach db upgrade && exec outreach daemon --web --host 0.0.0.0 --port 8000"]
