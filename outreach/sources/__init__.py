"""Content sources: fetch → parse → sanitise → ContentItem rows.

One module per source type, found through :mod:`outreach.sources.registry`.
"""
