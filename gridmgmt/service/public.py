"""The public channel (投诉举报渠道): complaints and tip-offs without login, a tracking code, a public status.

A report becomes a ``tip_off`` or ``complaint`` event of the public department, which opens
the joint task of the retailer's grid at once. Its status (received, assigned, handled) is read
from the task; what the public sees never names a person, a note or a contact.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from gridmgmt.store.engine import Engine
from gridmgmt.store.public_reports import add_report_row, report_row
from gridmgmt.vocab import PUBLIC_TYPES

KINDS = PUBLIC_TYPES
_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I/L: read out over the phone


def new_tracking_code() -> str:
    """A random tracking code like ``TS-7K4M-PQ2X`` (40 bits; unguessable enough for a status page)."""
    chars = "".join(secrets.choice(_ALPHABET) for _ in range(8))
    return f"TS-{chars[:4]}-{chars[4:]}"


@dataclass(frozen=True)
class PublicStatus:
    """What the public may see of a report: its code, kind, day filed and status."""

    tracking_code: str
    kind: str
    filed: str
    status: str  # received | assigned | handled


def save_report(engine: Engine, *, event_id: str, retailer_id: str, kind: str, filed: object, contact: str = "") -> str:
    """Store a report's tracking code beside the event it opened; return the code."""
    for _ in range(5):
        code = new_tracking_code()
        if add_report_row(
            engine, code=code, event_id=event_id, retailer_id=retailer_id, kind=kind, filed=filed, contact=contact
        ):
            return code
    raise RuntimeError("could not draw a free tracking code")


def find_report(engine: Engine, code: str) -> dict | None:
    """The stored report of a tracking code (internal: includes event and retailer), or None."""
    return report_row(engine, code.strip().upper())


def public_status(report: dict, task_status: str | None, grid_id: str) -> PublicStatus:
    """The public view: handled once the task is closed, assigned once a grid owns it, else received."""
    if task_status in ("closed", "closed_late"):
        status = "handled"
    elif grid_id:
        status = "assigned"
    else:
        status = "received"
    return PublicStatus(report["tracking_code"], report["kind"], f"{report['filed']:%Y-%m-%d}", status)
