"""The service's background jobs end to end over HTTP: a day plan (generate, review, publish, Today) and a
what-if rebalance of the grids (preview, moves, publish, the new owners)."""

from __future__ import annotations

import itertools
import json
import re
import time

import pandas as pd
import pytest
from service_fixtures import PASSWORD, TODAY, service_store, small_district, template_store  # noqa: F401

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient

from gridmgmt.service import ServiceOptions, create_app
from gridmgmt.store import audit as audit_log

pytestmark = pytest.mark.slow  # plans a day and rebalances the grids of a small district

JOB_TIMEOUT_S = 120.0
SOLUTIONS = 30  # a small solution limit: the search ends there, long before the job's time cap


@pytest.fixture
def client(small_district, service_store):  # noqa: F811
    app = create_app(small_district, service_store, options=ServiceOptions(today=TODAY, min_form_s=0.0))
    with TestClient(app) as c:
        yield c


def login(client, name: str) -> dict[str, str]:
    """Bearer headers of a fresh session of ``name``."""
    r = client.post("/api/login", json={"username": name, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


def wait_for(client, headers: dict[str, str], job_id: str, *, state: str = "done") -> dict:
    """Poll ``/api/jobs/{job_id}`` (bounded) until the job ends; fail with its error unless it ended in ``state``."""
    deadline = time.monotonic() + JOB_TIMEOUT_S
    while True:
        r = client.get(f"/api/jobs/{job_id}", headers=headers)
        assert r.status_code == 200, r.text
        job = r.json()
        if job["state"] in ("done", "failed"):
            break
        if time.monotonic() > deadline:
            pytest.fail(f"job {job_id} still {job['state']} after {JOB_TIMEOUT_S:.0f} s: {job['progress']}")
        time.sleep(0.2)
    if job["state"] != state:
        pytest.fail(f"job {job_id} {job['state']}, expected {state}: {job['error']}\nprogress: {job['progress']}")
    return job


def minutes(hhmm: str) -> int:
    hours, mins = hhmm.split(":")
    return int(hours) * 60 + int(mins)


# ------------------------------------------------------------------ day plan


def test_plan_job_drafts_publishes_and_shows_the_route_on_today(client) -> None:
    """The squad leader plans G01 in the background, publishes the draft; officer1's Today shows its route."""
    leader, officer = login(client, "leader"), login(client, "officer1")
    live = client.app.state.service.live
    assert client.get("/api/me", headers=officer).json()["grids"] == ["1"]
    old_route = client.get("/api/today", headers=officer).json()["route"]  # the fixture's fake plan

    r = client.post("/api/plans", headers=leader, json={"date": TODAY, "squads": ["G01"], "solution_limit": SOLUTIONS})
    assert r.status_code == 202, r.text
    started = r.json()
    assert started["state"] in ("queued", "running", "done") and started["title"] == f"plan {TODAY}"
    # only its owner (or a manager) sees a job
    assert client.get(f"/api/jobs/{started['job_id']}", headers=officer).status_code == 404
    job = wait_for(client, leader, started["job_id"])
    run_id = job["result"]
    assert isinstance(run_id, str) and run_id
    progress = " | ".join(job["progress"])
    assert len(job["progress"]) >= 4, progress
    assert job["progress"][0] == "reading the event log" and "scoring risk" in job["progress"]
    assert job["progress"][-1].startswith(f"draft {run_id}: "), progress

    plans = client.get("/api/plans", headers=leader).json()
    drafts = {p["run_id"]: p for p in plans if p["kind"] == "plan_draft"}
    assert run_id in drafts
    assert drafts[run_id]["date"] == TODAY and drafts[run_id]["by"] == "leader"
    # a draft is not shown to the pairs until published
    assert client.get("/api/today", headers=officer).json()["route"] == old_route

    draft = live.store.read_run(run_id)
    stops = pd.DataFrame(draft.layers["stops"])
    assert len(stops) > 0, "the draft plans no visit"
    assert set(stops["squad_id"].astype(str)) == {"G01"}
    assert draft.parameters["solution_limit"] == SOLUTIONS and draft.parameters["squads"] == ["G01"]

    # G01 alone leaves the other grids' mandatory visits out: publishing it is acknowledged
    r = client.post(f"/api/plans/{run_id}/publish", headers=leader, json={"acknowledge_left_out": True})
    assert r.status_code == 200, r.text
    published = r.json()["run_id"]
    assert published != run_id
    runs = {p["run_id"]: p for p in client.get("/api/plans", headers=leader).json()}
    assert runs[published]["kind"] == "plan" and runs[published]["from_run"] == run_id

    today = client.get("/api/today", headers=officer).json()
    route = today["route"]
    assert route, today
    assert route != old_route
    assert [s["retailer_id"] for s in route] == stops["retailer_id"].astype(str).tolist()
    # G01 works grid 1 (no cover asked); a stop elsewhere would have to say whose grid it covers
    assert {str(s["squad_id"]) for s in route} == {"G01"}
    assert {live.grid_of_retailer(s["retailer_id"]) for s in route} == {"1"}
    for stop in route:
        grid = live.grid_of_retailer(stop["retailer_id"])
        assert str(stop["grid_id"]) == grid, stop
        if grid == "1":
            assert not stop["cross_grid_reason"], stop
        else:
            assert stop["cross_grid_reason"].startswith(f"covering for grid {grid}: "), stop
    seqs = [int(s["seq"]) for s in route]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    arrivals = [minutes(s["arrival"]) for s in route]
    assert all(a < b for a, b in itertools.pairwise(arrivals)), arrivals
    for before, after in itertools.pairwise(route):
        assert minutes(after["arrival"]) >= minutes(before["departure"]), (before, after)
    # the Today page draws the published route along the streets, not straight legs between the stops
    page = client.get("/today", headers=officer)
    assert page.status_code == 200
    line = json.loads(re.search(r"data-street-line='([^']*)'", page.text).group(1))
    assert len(line) > len(route) + 2  # depot -> stops -> depot with the streets' bends
    west, south, east, north = live.district.boundary.to_crs(4326).total_bounds
    assert all(south - 0.01 <= lat <= north + 0.01 and west - 0.01 <= lon <= east + 0.01 for lat, lon in line)
    # officer2 (grid 2) is not in G01: the new plan has no route for them
    assert client.get("/api/today", headers=login(client, "officer2")).json()["route"] == []

    # the same draft cannot be published twice; a published plan is no draft either
    again = client.post(f"/api/plans/{run_id}/publish", headers=leader, json={"acknowledge_left_out": True})
    assert again.status_code == 409, again.text
    assert client.post(f"/api/plans/{published}/publish", headers=leader).status_code == 400
    kinds = [p["kind"] for p in client.get("/api/plans", headers=leader).json()]
    assert kinds.count("plan") == 2  # the fixture's and ours, nothing more
    publications = audit_log.read(client.app.state.service.engine)
    assert (publications["action"] == f"publish plan {run_id}").sum() == 1


def test_plan_job_refuses_a_bad_date_and_reports_a_failed_plan(client) -> None:
    """An impossible date is refused at once; a plan the planner cannot make fails its job (with the reason),
    not the server, and stores no draft."""
    leader = login(client, "leader")
    assert client.post("/api/plans", headers=leader, json={"date": "2026-13-45"}).status_code == 400
    assert client.post("/api/plans", headers=leader, json={"date": "1 Dec"}).status_code == 422
    drafts_before = [p for p in client.get("/api/plans", headers=leader).json() if p["kind"] == "plan_draft"]
    r = client.post("/api/plans", headers=leader, json={"date": TODAY, "squads": ["G99"], "solution_limit": 5})
    assert r.status_code == 202, r.text
    job = wait_for(client, leader, r.json()["job_id"], state="failed")
    assert "G99" in job["error"] and job["result"] is None
    drafts_after = [p for p in client.get("/api/plans", headers=leader).json() if p["kind"] == "plan_draft"]
    assert drafts_after == drafts_before
    # the service still plans after a failed job
    r = client.post("/api/plans", headers=leader, json={"squads": ["G01"], "solution_limit": SOLUTIONS})
    assert wait_for(client, leader, r.json()["job_id"])["title"] == f"plan {TODAY}"  # default: the service's day


# ------------------------------------------------------------------ grids


def grid_of(client, headers: dict[str, str], retailer_id: str) -> str:
    """The retailer's grid as the API reports it."""
    found = client.get("/api/retailers", headers=headers, params={"q": retailer_id}).json()
    (row,) = [r for r in found if r["retailer_id"] == retailer_id]
    return str(row["grid_id"])


def test_grids_preview_lists_moves_and_publishing_changes_the_owners(client) -> None:
    """The planner previews a rebalance (a job), reviews the moves and publishes them from today."""
    planner, leader = login(client, "planner"), login(client, "leader")
    live = client.app.state.service.live
    before = live.owners().set_index("retailer_id")["grid_id"]

    # only a planner (or admin) may preview or publish; the squad leader may look at the grids
    assert client.get("/grids", headers=leader).status_code == 200
    assert client.post("/grids/preview", headers=leader, data={"k": ""}).status_code == 403
    assert client.post("/grids/publish", headers=leader, data={"run_id": "R-1", "valid_from": TODAY}).status_code == 403

    r = client.post("/grids/preview", headers=planner, data={"k": "", "lock_grids": ""}, follow_redirects=False)
    assert r.status_code == 303, r.text
    job_id = r.headers["location"].split("job=")[1]
    job = wait_for(client, planner, job_id)
    run_id = job["result"]
    assert job["title"] == "rebalance preview"
    assert job["progress"][:2] == ["reading today's grids", "rebalancing"]
    assert job["progress"][-1].endswith("retailers would move")
    page = client.get(f"/grids?job={job_id}", headers=planner).text
    assert 'data-state="done"' in page and f"/grids?run={run_id}" in page

    preview = live.store.read_run(run_id)
    assert preview.kind == "grids_preview"
    moves = pd.DataFrame(preview.layers["moves"])
    after = pd.DataFrame(preview.layers["assignment"]).astype({"retailer_id": str})
    after = after.set_index("retailer_id")["grid_id"].map(lambda g: str(int(g)))
    assert int(job["progress"][-1].split()[0]) == len(moves)
    assert len(moves) > 0, "the band grids are unbalanced: a rebalance must move some retailers"
    assert {"retailer_id", "from_grid", "to_grid"} <= set(moves.columns)
    for move in moves.itertuples():
        rid = str(move.retailer_id)
        assert str(int(move.from_grid)) == before[rid], move
        assert str(int(move.to_grid)) == after[rid], move
        assert move.from_grid != move.to_grid and move.reason == "rebalance", move  # every retailer had a grid
    # every retailer whose grid differs is listed as a move, and nobody else
    changed = {rid for rid in before.index if rid in after.index and after[rid] != before[rid]}
    assert changed == set(moves["retailer_id"].astype(str))
    page = client.get(f"/grids?run={run_id}", headers=planner).text
    assert f'name="run_id" value="{run_id}"' in page
    assert all(str(rid) in page for rid in moves["retailer_id"])
    # a preview changes nothing yet
    moved = str(moves["retailer_id"].iat[0])
    assert grid_of(client, leader, moved) == before[moved]

    # publishing a run that is not a preview is refused
    plan_run = live.store.list_runs(kind="plan")["run_id"].iat[0]
    r = client.post("/grids/publish", headers=planner, data={"run_id": plan_run, "valid_from": TODAY})
    assert r.status_code == 400

    r = client.post(
        "/grids/publish", headers=planner, data={"run_id": run_id, "valid_from": TODAY}, follow_redirects=False
    )
    assert r.status_code == 303, r.text
    now = live.owners().set_index("retailer_id")["grid_id"]
    assert now.to_dict() == after.reindex(now.index).to_dict()
    for move in moves.head(10).itertuples():
        assert grid_of(client, leader, str(move.retailer_id)) == str(int(move.to_grid))
    unmoved = next(rid for rid in before.index if rid not in changed)
    assert grid_of(client, leader, unmoved) == before[unmoved]
    published = live.store.list_runs(kind="grids")
    assert published["parameters"].iat[0]["from_run"] == run_id
    assert (audit_log.read(client.app.state.service.engine)["action"] == f"publish grids {run_id}").sum() == 1


def test_grids_jobs_need_the_permission(client) -> None:
    """Roles without grids:publish get 403 (audited); roles without grids:view cannot even see the page."""
    engine = client.app.state.service.engine
    for name in ("officer1", "manager", "leader"):
        headers = login(client, name)
        r = client.post("/grids/preview", headers=headers, data={"k": "3"})
        assert r.status_code == 403, (name, r.text)
        last = audit_log.read(engine, limit=1)
        assert (last["username"].iat[0], last["outcome"].iat[0]) == (name, "forbidden")
    assert client.get("/grids", headers=login(client, "officer1")).status_code == 403
    anonymous = client.post("/grids/preview", data={"k": "3"}, follow_redirects=False)
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/login"), anonymous.text
    # a cookie session must send its CSRF token with the form
    r = client.post("/login", data={"username": "planner", "password": PASSWORD}, follow_redirects=False)
    assert r.status_code == 303
    assert client.post("/grids/preview", data={"k": ""}).status_code == 403
    assert client.app.state.service.live.store.list_runs(kind="grids_preview").empty  # no preview ever ran
