"""The symbolic engine: the fixed-width state vector and its term layer, the Z3 encoding of the model, bounded
model checking and k-induction.
"""
