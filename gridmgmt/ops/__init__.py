"""The orchestration layer: every operation the front doors (``cli``, ``service``, ``province``) run.

Each operation loads what it needs (a district: settings + frames, its road network, the store's
events), calls the capabilities (``grids``, ``risk``, ``patrol``, ``loop``, ``maps``), writes its
files and records its run in the shared store, all in one place. Only this package and
``gridmgmt.store`` open the store or write runs.

This ``__init__`` imports nothing: the small commands (``events add``, ``users add``) import only
their own light module (:mod:`gridmgmt.ops.events`, :mod:`gridmgmt.ops.users`, ...), never pandas,
geopandas or OR-Tools at start-up.
"""
