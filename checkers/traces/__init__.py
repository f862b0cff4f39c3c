"""Counterexample traces: the versioned JSON format every engine writes (load with a schema check, replay on the
model), the rendered page, and trace diff.
"""

#: The public API: the package's modules (imported by name, so importing the package stays cheap).
__all__ = ["diff", "eventlog", "render", "trace", "validate"]
