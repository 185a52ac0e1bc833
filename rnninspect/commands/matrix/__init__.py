"""``rnninspect matrix``: many cases from one TOML file, expanded, sharded, run in workers."""
