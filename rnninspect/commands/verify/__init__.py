"""``rnninspect verify``: the implementation under test against the reference, step by step where a
row fails.
"""
