"""Reports across engines: the mutant x checker scorecard and the claims traceability table."""
