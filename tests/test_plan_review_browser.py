"""The Plan review in Chromium: the mandatory visits a draft left out are listed; publishing needs the box ticked."""

from __future__ import annotations

import pandas as pd
import pytest
from service_fixtures import TODAY, service_store, small_district, template_store  # noqa: F401
from test_service_browser import _login, browser, server  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _draft_leaving_out(app) -> tuple[str, str]:
    """A draft of the fixture's G01 stops that left grid 2's first shop's overdue tip-off out; (run id, shop)."""
    from gridmgmt.ops.patrol import DRAFT_KIND

    live = app.state.service.live
    stops = pd.DataFrame(live.latest_plan().layers["stops"])
    owners = live.owners()
    rid = str(owners.loc[owners["grid_id"] == "2", "retailer_id"].sort_values().iat[0])
    unplanned = pd.DataFrame(
        [{"retailer_id": rid, "name": "shop", "purpose": "tip_off", "mandatory": True, "deadline": "2026-11-27",
          "priority": 300.0, "reason": "other squad's grid 2: its squad is not in this plan, cover not allowed"}]
    )  # fmt: skip
    layers = {"stops": stops.loc[stops["squad_id"] == "G01"], "unplanned": unplanned}
    run_id = live.store.write_run(DRAFT_KIND, layers, parameters={"date": TODAY, "by": "leader"})
    return str(run_id), rid


def test_publishing_a_plan_that_leaves_visits_out_needs_the_box_ticked(server, browser) -> None:  # noqa: F811
    """At phone width the leader sees grid 2's tip-off left out with why; publish is refused until the box is ticked."""
    app, base = server
    run_id, rid = _draft_leaving_out(app)
    page = browser.new_context(viewport={"width": 390, "height": 844}).new_page()
    _login(page, base, "leader")
    page.goto(f"{base}/plan?run={run_id}&lang=en")
    row = page.locator(f"#left-out tr[data-retailer='{rid}']")
    assert row.count() == 1 and "another squad's grid (cover not allowed)" in row.inner_text()
    page.click("#publish")
    page.wait_for_load_state("load")
    assert "tick the acknowledgement" in page.locator("#publish-refused").inner_text()
    runs = app.state.service.live.store.list_runs("plan")
    assert run_id not in {(params or {}).get("from_run") for params in runs["parameters"]}
    page.check("#acknowledge-left-out")
    page.click("#publish")
    page.wait_for_load_state("load")
    assert page.locator("p.ok").count() >= 1 and "/plan?run=" in page.url and run_id not in page.url
