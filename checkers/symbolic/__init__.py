"""The symbolic engine: the fixed-width state vector and its term layer, the Z3 encoding of the model, bounded
model checking and k-induction.
"""

#: The public API: the package's modules (imported by name, so importing the package stays cheap).
__all__ = ["bmc", "encoding", "induction", "spec_terms", "terms"]
