"""What the commands share: the real module and its inputs, one run with gradients, parity and
tolerances, timing, devices, --impl loading and its child process, the runtimes.
"""
