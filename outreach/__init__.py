"""outreach: climate newsletter and business outreach automation for cities."""

__version__ = "0.1.0"
