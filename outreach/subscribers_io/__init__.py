"""Subscribers in and out: CSV import from a CRM, CSV / JSON export.

- :func:`import_csv` (``outreach subscribers import``) and :class:`ImportReport`
- :func:`export` (``outreach subscribers export --purpose``), :data:`PURPOSES`,
  :func:`safe_cell`
"""

from outreach.subscribers_io.csv_import import (
    FIELDS,
    ImportReport,
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

__all__ = [
    "EXPORT_FIELDS",
    "FIELDS",
    "PURPOSES",
    "ImportReport",
    "detect_encoding",
    "export",
    "export_rows",
    "import_csv",
    "parse_mapping",
    "resolve_columns",
    "safe_cell",
    "sniff_delimiter",
]
