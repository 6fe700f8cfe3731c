"""The fine-tuning experiment, above the study core: the objective (one job per trial), the
phases after the search (seed re-check, final run) as fixed runs, and the outputs in ``best/``."""
