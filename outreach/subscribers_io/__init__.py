"""Subscribers in and out: CSV import from a CRM, CSV / JSON export.

- :func:`import_csv` (``outreach subscribers import``), its :class:`ImportReport`
  and :func:`parse_share` (``--max-skipped``)
- :mod:`.values`: what Finnish, Swedish and English headers and values mean
- :func:`export` (``outreach subscribers export --purpose``), :data:`PURPOSES`,
  :func:`safe_cell`
"""

from outreach.subscribers_io.csv_import import (
    detect_encoding,
    import_csv,
    parse_mapping,
    resolve_columns,
    sniff_delimiter,
)
from outreach.subscribers_io.export import (
    EXPORT_FIELDS,
    PURPOSES,
    export,
    export_rows,
    safe_cell,
)
from outreach.subscribers_io.report import ImportAborted, ImportReport, Note, parse_share
from outreach.subscribers_io.values import FIELDS

__all__ = [
    "EXPORT_FIELDS",
    "FIELDS",
    "PURPOSES",
    "ImportAborted",
    "ImportReport",
    "Note",
    "detect_encoding",
    "export",
    "export_rows",
    "import_csv",
    "parse_mapping",
    "parse_share",
    "resolve_columns",
    "safe_cell",
    "sniff_delimiter",
]
