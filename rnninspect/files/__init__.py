"""Reading and writing the user's files safely: checkpoints, reparametrised weights, outputs
written atomically.
"""
