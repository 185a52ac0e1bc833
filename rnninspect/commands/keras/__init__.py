"""``rnninspect keras`` and ``rnninspect convert``: the weight mapping, and reading, checking and
writing Keras files.
"""
