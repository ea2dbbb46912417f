"""``edgekit optimize``: find the best artifact for a device under an accuracy budget.

The search space comes from the recipe's ``optimize:`` section (:mod:`.space`); each candidate
is a derived recipe run through the pipeline's own steps, so finished stages come from the
stage cache (:mod:`.candidate`); it is scored on the validation split (:mod:`.score`); trials
are kept in the run folder as they finish (:mod:`.trials`); optuna or an exhaustive grid picks
the candidates (:mod:`.search`); the Pareto front and the choice are :mod:`.front`; the chosen
one is proven once on the held-out split as a normal bundle (:mod:`.run`).
"""
