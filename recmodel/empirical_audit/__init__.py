"""The empirical privacy audit: canary users, membership scores, and lower bounds on epsilon from one run.

``canaries``: generate m canary users and their coins; ``membership_scores``: score each canary against what
the coordinator saw (each partner's released models) and what the public sees (the final model);
``lower_bounds``: epsilon lower bounds at a stated confidence. ``simulations.canary_audit`` runs it end to end.
"""
