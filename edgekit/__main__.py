"""``python -m edgekit`` runs the CLI (useful from a checkout without installing)."""

from edgekit.cli import main

main()
