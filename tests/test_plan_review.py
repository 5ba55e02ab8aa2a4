"""The Plan review: a subset plan stays in its squads' grids unless it asks for cover; the mandatory visits it
leaves out are listed with why, and publishing it needs an acknowledgement, kept in the audit."""

from __future__ import annotations

import re
import time

import pandas as pd
import pytest
from service_fixtures import PASSWORD, TODAY, service_store, small_district, template_store  # noqa: F401

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient

from gridmgmt.service import ServiceOptions, create_app
from gridmgmt.service.work import LEFT_OUT_KINDS
from gridmgmt.store import audit as audit_log

pytestmark = pytest.mark.slow  # plans a day of a small district

SOLUTIONS = 10
JOB_TIMEOUT_S = 120.0


def _login(client, name: str) -> dict[str, str]:
    r = client.post("/api/login", json={"username": name, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


def _plan(client, headers: dict[str, str], **body) -> str:
    """Run a plan job to its end (bounded); return the draft's run id."""
    r = client.post("/api/plans", headers=headers, json={"date": TODAY, "solution_limit": SOLUTIONS, **body})
    assert r.status_code == 202, r.text
    job, deadline = r.json(), time.monotonic() + JOB_TIMEOUT_S
    while job["state"] not in ("done", "failed"):
        assert time.monotonic() < deadline, job["progress"]
        time.sleep(0.2)
        job = client.get(f"/api/jobs/{job['job_id']}", headers=headers).json()
    assert job["state"] == "done", job
    return str(job["result"])


@pytest.fixture
def tipped(service_store) -> str:  # noqa: F811
    """A retailer of grid 2 with an overdue tip-off (filed 2026-11-25): a mandatory visit on TODAY."""
    owners = service_store.assignment_on(TODAY)
    rid = str(owners.loc[owners["grid_id"].astype(int) == 2, "retailer_id"].sort_values().iat[0])
    row = {"retailer_id": rid, "time": pd.Timestamp("2026-11-25 10:00"), "type": "tip_off", "department": "public"}
    service_store.add_events(pd.DataFrame([row]), source="test", recorded_by="test")
    return rid


@pytest.fixture
def client(small_district, service_store, tipped):  # noqa: F811
    app = create_app(small_district, service_store, options=ServiceOptions(today=TODAY, min_form_s=0.0))
    with TestClient(app) as c:
        yield c


def test_subset_plan_stays_home_lists_what_it_left_out_and_needs_an_acknowledgement(client, tipped) -> None:
    """G01 alone plans only grid 1; grid 2's overdue tip-off is listed as another squad's grid; publishing is
    refused (409, zh and en) until acknowledged, and the audit keeps who and how many."""
    leader = _login(client, "leader")
    live = client.app.state.service.live
    run_id = _plan(client, leader, squads=["G01"])
    stops = pd.DataFrame(live.store.read_run(run_id).layers["stops"])
    assert len(stops) and {live.grid_of_retailer(r) for r in stops["retailer_id"]} == {"1"}

    left = client.get(f"/api/plans/{run_id}/left-out", headers=leader).json()
    by_id = {row["retailer_id"]: row for row in left}
    assert by_id[tipped]["grid_id"] == "2" and by_id[tipped]["why"] == "other_grid", by_id[tipped]
    assert {row["why"] for row in left} <= {kind for _start, kind in LEFT_OUT_KINDS}
    assert all(row["reason"] for row in left)

    refused = client.post(f"/api/plans/{run_id}/publish", headers=leader)
    assert refused.status_code == 409 and f"未安排 {len(left)} 项必办走访" in refused.json()["detail"]
    english = client.post(f"/api/plans/{run_id}/publish", headers={**leader, "Accept-Language": "en"})
    assert english.status_code == 409 and f"leaves out {len(left)} mandatory" in english.json()["detail"]
    row = audit_log.read(live.store.engine, limit=1).iloc[0]
    assert (row["outcome"], row["action"]) == ("refused", f"publish plan {run_id}")

    # the page: the review lists it with why; the publish form refuses without the box, publishes with it
    client.post("/login", data={"username": "leader", "password": PASSWORD})
    csrf = client.get("/api/me").json()["csrf"]
    page = client.get(f"/plan?run={run_id}&lang=en").text
    assert 'id="left-out"' in page and f'data-retailer="{tipped}"' in page
    assert "another squad&#39;s grid (cover not allowed)" in page and 'id="acknowledge-left-out"' in page
    form = {"csrf_token": csrf, "run_id": run_id}
    r = client.post("/plan/publish?lang=en", data=form, follow_redirects=False)
    assert r.status_code == 409 and 'id="publish-refused"' in r.text and "tick the acknowledgement" in r.text
    r = client.post("/plan/publish", data={**form, "acknowledge_left_out": "1"}, follow_redirects=False)
    assert r.status_code == 303, r.text
    row = audit_log.read(live.store.engine, limit=1).iloc[0]
    assert row["outcome"] == "ok" and row["username"] == "leader"
    assert row["detail"].endswith(f"; {len(left)} mandatory visit(s) left out, acknowledged by leader")


def test_cover_of_other_grids_is_asked_for(client, tipped) -> None:
    """With cover allowed the other grids' visits are offered: none is left out as another squad's grid."""
    leader = _login(client, "leader")
    run_id = _plan(client, leader, squads=["G01"], cover_other_grids=True)
    assert client.app.state.service.live.store.read_run(run_id).parameters["cover_other_grids"] is True
    left = client.get(f"/api/plans/{run_id}/left-out", headers=leader).json()
    assert all(row["why"] != "other_grid" for row in left)


def test_squad_leader_opens_today_for_each_squad(client, tipped) -> None:
    """The squad leader chooses a squad on Today and reads its route and its grid's tasks, without outcome forms."""
    client.post("/login", data={"username": "leader", "password": PASSWORD})
    live = client.app.state.service.live
    page = client.get("/today?lang=en")
    assert page.status_code == 200 and 'id="squad-select"' in page.text
    assert all(f'<option value="G{g:02d}"' in page.text for g in range(1, 13))
    assert '<option value="G01" selected>' in page.text and page.text.count('class="stop card') == 5
    assert 'action="/today/outcome"' not in page.text
    page = client.get("/today?squad=G02&lang=en").text
    assert '<option value="G02" selected>' in page and page.count('class="stop card') == 5
    rows = re.findall(r'class="task [a-z_]+" data-task="[^"]+" data-retailer="([^"]+)"', page)
    assert tipped in rows and {live.grid_of_retailer(r) for r in rows} == {"2"}  # grid 2's tasks, its tip-off too
    assert client.get("/today?squad=G07&lang=en").text.count('class="stop card') == 0
