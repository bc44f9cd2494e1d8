"""Station gateway: the only Temporal endpoint an (untrusted) station worker sees.

Station workers run on workshop PCs. Connected straight to the Temporal frontend, a station's
credentials would let it start, signal, terminate or read any workflow, poll any queue and
read every payload in the clear. The gateway speaks Temporal's WorkflowService to the station,
authenticates it by its station token, forwards only the calls an activity worker makes, only
for the station's own queue and its own tasks, and keeps the payload keys on the portal side.

`serve` starts it and returns the running `Gateway`; `run_gateway` runs it until an event is
set. `station_by_token` authenticates against the portal's database, and `station_polls` notes
there when a station polled; `certificates` makes a local CA and a server certificate when no
other PKI is at hand.
"""

from gateway.auth import Authenticate, NotePoll, station_by_token, station_polls
from gateway.config import FrontendTLS, GatewayConfig
from gateway.server import Gateway, run_gateway, serve

__all__ = [
    "Authenticate",
    "FrontendTLS",
    "Gateway",
    "GatewayConfig",
    "NotePoll",
    "run_gateway",
    "serve",
    "station_by_token",
    "station_polls",
]
