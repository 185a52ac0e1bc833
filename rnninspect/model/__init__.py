"""What is inspected, with no torch numbers: a configuration (SPEC), the shape model, the memory
model.
"""
