"""Below everything: errors and exit codes, text made safe to print, Ctrl-C and time limits."""
