"""Reports across engines: the mutant x checker scorecard and the claims traceability table."""

#: The public API: the package's modules (imported by name, so importing the package stays cheap).
__all__ = ["scorecard", "traceability"]
