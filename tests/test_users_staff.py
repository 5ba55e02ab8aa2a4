"""A staff user is a staff member of the store, of the role's department (issue 22: Z05 as marketing was accepted)."""

from __future__ import annotations

import pytest
from service_fixtures import service_store, small_district, template_store  # noqa: F401

from gridmgmt.service.accounts import UserError, add_user, list_users

PASSWORD = "correct horse battery"


@pytest.mark.parametrize(
    ("role", "staff_id", "why"),
    [
        ("marketing", "Z01", "belongs to the monopoly department, not marketing"),
        ("monopoly", "M01", "belongs to the marketing department, not monopoly"),
        ("marketing", "M999", "is not a staff member of this store"),
        ("monopoly", "", "needs --staff-id"),
    ],
)
def test_a_staff_id_of_another_department_or_unknown_is_refused(service_store, role, staff_id, why) -> None:  # noqa: F811
    before = list_users(service_store.engine)
    with pytest.raises(UserError, match=why):
        add_user(service_store.engine, "newcomer", role, PASSWORD, staff_id=staff_id)
    assert list_users(service_store.engine) == before  # nothing half-made


def test_a_staff_member_of_the_role_department_is_added(service_store) -> None:  # noqa: F811
    user = add_user(service_store.engine, "newcomer", "monopoly", PASSWORD, staff_id="Z03")
    assert (user.role, user.staff_id) == ("monopoly", "Z03")
    assert "newcomer" in {u.username for u in list_users(service_store.engine)}
