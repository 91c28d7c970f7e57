"""Workshop mode: one shared Daraja for a room (Safaricom side).

``WorkshopServer`` gives every participant their own Daraja app and paybill behind one URL,
keeps their callbacks in a mailbox until their listener has them (posted directly, or pulled by
the relay in ``mpesa_lab.listener.relay``), and serves the facilitator's live page with room-wide
faults. ``simulate`` starts a loopback room with simulated participants (notebooks, demos).
"""

from mpesa_lab.workshop.cli import run_workshop
from mpesa_lab.workshop.limits import LimitsError, WorkshopLimits
from mpesa_lab.workshop.room import FAULTS, Room, RoomError
from mpesa_lab.workshop.roster import Participant, Roster, RosterError
from mpesa_lab.workshop.server import WorkshopServer

__all__ = [
    "FAULTS",
    "LimitsError",
    "Participant",
    "Room",
    "RoomError",
    "Roster",
    "RosterError",
    "WorkshopLimits",
    "WorkshopServer",
    "run_workshop",
    "simulate",
]


def simulate(*args, **kwargs):  # noqa: ANN002, ANN003, ANN201 - see simulate.simulate
    """Start a loopback room with simulated participants (see :func:`mpesa_lab.workshop.simulation.simulate`)."""
    from mpesa_lab.workshop.simulation import simulate as _simulate

    return _simulate(*args, **kwargs)
