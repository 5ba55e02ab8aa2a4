"""``python -m gridmgmt``: the same CLI as the ``gridmgmt`` command."""

from gridmgmt.cli import main

main()
