"""``python -m gridmgmt.maps``: fetch (or ``--check``) the Leaflet assets the offline maps inline.

The command lives here, not in :mod:`gridmgmt.maps.offline_assets`: the package imports that module,
so running it with ``-m`` loaded it twice and Python warned.
"""

from gridmgmt.maps.offline_assets import main

raise SystemExit(main())
