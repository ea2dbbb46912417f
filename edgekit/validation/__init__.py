"""Proving an artifact on its runtime: its metric on held-out data, agreement with the
reference model, output differences and latency, all measured by running the file."""
