"""Migration scripts, one per schema revision (ids ``0001``, ``0002``, ...)."""
