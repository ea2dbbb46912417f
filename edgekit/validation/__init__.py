"""Measuring artifacts against the recipe's budgets by running them: :mod:`.prove` runs each
artifact on its runtime on this machine as ``compress`` ends (metric on held-out data,
agreement with the reference model, output differences, latency), :mod:`.ondevice` does the same
on a target (``edgekit validate``), :mod:`.profile` times one artifact there (``edgekit
profile``), and :mod:`.verdict` is the judgement all of them share.

Whether a bundle's files are still the ones it was built with is another question, answered
without running anything by :mod:`edgekit.bundle_integrity` (``edgekit verify``)."""
