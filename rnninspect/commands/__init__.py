"""One module (or folder) per command: its options in, its report out."""
