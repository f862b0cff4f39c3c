"""Counterexample traces: the versioned JSON format every engine writes (load with a schema check, replay on the
model), the rendered page, and trace diff.
"""
