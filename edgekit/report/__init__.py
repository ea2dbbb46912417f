"""Run reports: ``report.json`` (the machine-readable contract) and ``report.html``."""
