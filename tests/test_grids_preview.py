"""The Grids page's rebalance preview: moves listed with shop names; with nothing changed, no move at all."""

from __future__ import annotations

import time

import pandas as pd
import pytest
from service_fixtures import PASSWORD, TODAY, service_store, small_district, template_store  # noqa: F401

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient

from gridmgmt.service import ServiceOptions, create_app

pytestmark = pytest.mark.slow  # two rebalances of a small district

JOB_TIMEOUT_S = 180.0


@pytest.fixture
def client(small_district, service_store):  # noqa: F811
    app = create_app(small_district, service_store, options=ServiceOptions(today=TODAY))
    with TestClient(app) as c:
        c.post("/login", data={"username": "planner", "password": PASSWORD})
        yield c


def _preview(client) -> str:
    """Start a rebalance preview from the page and wait for it (bounded); return the preview run id."""
    csrf = client.get("/api/me").json()["csrf"]
    r = client.post("/grids/preview", data={"csrf_token": csrf, "k": "", "lock_grids": ""}, follow_redirects=False)
    assert r.status_code == 303, r.text
    job_id, deadline = r.headers["location"].split("job=")[1], time.monotonic() + JOB_TIMEOUT_S
    while (job := client.get(f"/api/jobs/{job_id}").json())["state"] not in ("done", "failed"):
        assert time.monotonic() < deadline, job["progress"]
        time.sleep(0.5)
    assert job["state"] == "done", job
    return str(job["result"])


def test_moves_name_their_shops_and_an_unchanged_rebalance_moves_nobody(client) -> None:
    """The band grids are unbalanced: the preview moves shops, listed by name; once published, a preview of
    the same grids proposes no move (re-derived from the assignment it moved 50, on a second load of the
    road network 3)."""
    live = client.app.state.service.live
    first = live.store.read_run(_preview(client))
    moves = pd.DataFrame(first.layers["moves"])
    assert len(moves) > 0 and list(moves.columns[:2]) == ["retailer_id", "name"]
    names = live.retailers().set_index("retailer_id")["name"]
    assert (moves["name"] == moves["retailer_id"].map(names)).all()
    page = client.get(f"/grids?run={first.run_id}&lang=en").text
    assert 'id="moves"' in page and str(moves["name"].iat[0]) in page and ">rebalance<" in page
    csrf = client.get("/api/me").json()["csrf"]
    form = {"csrf_token": csrf, "run_id": first.run_id, "valid_from": TODAY}
    assert client.post("/grids/publish", data=form, follow_redirects=False).status_code == 303

    again = live.store.read_run(_preview(client))
    assert len(pd.DataFrame(again.layers["moves"])) == 0
    assert again.parameters["balance_before"] == pytest.approx(first.parameters["balance_after"])
    page = client.get(f"/grids?run={again.run_id}&lang=zh").text
    assert 'id="no-moves"' in page and "网格已均衡" in page and 'id="balance"' in page
