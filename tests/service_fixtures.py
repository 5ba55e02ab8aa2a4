"""A small district in a shared store, ready for the web service's tests: grids, pairs, users, a published plan.

The district is the demo generator's with 300 retailers and 60 days of history (about 3 s); the
grids are 12 bands of longitude (what the tests need is an assignment, not good grids), and
the published plan for 2026-12-01 visits five retailers of grid 1 and five of grid 2.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

TODAY = "2026-12-01"
PASSWORD = "correct horse battery"
USERS = {
    # name: (role, staff id)
    "officer1": ("monopoly", "Z01"),
    "cm1": ("marketing", "M01"),
    "officer2": ("monopoly", "Z02"),
    "leader": ("squad_leader", ""),
    "planner": ("planner", ""),
    "manager": ("manager", ""),
    "mediator": ("mediator", ""),
    "admin": ("admin", ""),
}


def band_assignment(retailers: pd.DataFrame, k: int = 12) -> pd.DataFrame:
    """retailer_id -> grid_id 1..k by bands of longitude."""
    order = np.argsort(retailers["lon"].to_numpy(), kind="stable")
    grid = np.empty(len(order), dtype=int)
    grid[order] = np.arange(len(order)) * k // len(order) + 1
    return pd.DataFrame({"retailer_id": retailers["retailer_id"].astype(str).to_numpy(), "grid_id": grid})


def fake_plan(assignment: pd.DataFrame, retailers: pd.DataFrame) -> pd.DataFrame:
    """Stops of squads G01 and G02: five retailers each, in id order."""
    rows = []
    named = retailers.set_index("retailer_id")
    for grid in (1, 2):
        ids = sorted(assignment.loc[assignment["grid_id"] == grid, "retailer_id"])[:5]
        for seq, rid in enumerate(ids, start=1):
            rows.append(
                {
                    "squad_id": f"G{grid:02d}",
                    "seq": seq,
                    "retailer_id": rid,
                    "grid_id": grid,
                    "name": str(named.at[rid, "name"]),
                    "address": str(named.at[rid, "address"]),
                    "purpose": "routine inspection",
                    "arrival": f"{9 + seq:02d}:00",
                    "lon": float(named.at[rid, "lon"]),
                    "lat": float(named.at[rid, "lat"]),
                }
            )
    return pd.DataFrame(rows)


@pytest.fixture(scope="session")
def small_district(tmp_path_factory):
    """The generated small district, loaded (shared by every service test of the session)."""
    from gridmgmt.demo import generate_demo
    from gridmgmt.ops.district import load_district

    folder = tmp_path_factory.mktemp("district")
    generate_demo(folder, seed=3, n_retailers=300, history_end="2026-11-30", history_days=60)
    return load_district(folder / "district.toml")


def fill_store(district, url: str | Path):
    """Open the store at ``url`` and load the district, grids, users and a published plan into it."""
    from gridmgmt.service import accounts
    from gridmgmt.service.live import PLAN_KIND
    from gridmgmt.store import open_store

    store = open_store(url, create=True)
    store.init_district(district, valid_from="2026-10-01")
    assignment = band_assignment(district.retailers)
    store.write_run("grids", {"assignment": assignment}, assignment_from="2026-10-01")
    store.write_run(PLAN_KIND, {"stops": fake_plan(assignment, district.retailers)}, parameters={"date": TODAY})
    for name, (role, staff_id) in USERS.items():
        accounts.add_user(store.engine, name, role, PASSWORD, staff_id=staff_id)
    return store


@pytest.fixture(scope="session")
def template_store(small_district, tmp_path_factory) -> Path:
    """The filled SQLite store, made once; tests get copies."""
    path = tmp_path_factory.mktemp("store") / "template.sqlite"
    fill_store(small_district, path).close()
    return path


@pytest.fixture
def service_store(template_store, tmp_path):
    """A fresh SQLite store holding the small district (a copy of the template: tests may write)."""
    import shutil

    from gridmgmt.store import open_store

    path = tmp_path / "store.sqlite"
    shutil.copyfile(template_store, path)
    store = open_store(path)
    yield store
    store.close()
