"""Breaking-change scan: each MLflow version's public API (read statically from its
environment, never imported), their differences, and where a team's code meets them.

`surface` the API model and its lookups · `extract` griffe → surface, cached by environment
digest · `changes` what changed for one API or a whole surface · `uses` where code uses MLflow
(AST) · `catalog` the documented API changes · `findings` uses × changes → `file:line` findings.
"""
