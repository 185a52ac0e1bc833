"""``rnninspect diagnose``: whether given shapes fit, with torch's own verdict from an isolated
probe.
"""
