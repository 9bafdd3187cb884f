"""`python -m omo_site.serve`: uvicorn (same command line, same supervisor) with a
listening socket per worker, as nginx's `listen ... reuseport`.

With `--workers N` uvicorn binds one socket in the supervisor and every worker accepts
from it; asyncio's accept loop takes all pending connections at once, so a burst of
connections (or a load balancer's few keep-alive upstream connections) lands mostly on
the worker that woke first while the others idle. Here each worker binds its own socket
on the same address with SO_REUSEPORT and the kernel spreads new connections across
them. uvicorn 0.54 has no option for this (encode/uvicorn PR #2472 is still open).

Where SO_REUSEPORT does not balance connections (not Linux) or the address is not TCP
(`--uds`, `--fd`), the workers share the supervisor's socket as under plain uvicorn.
"""

import importlib
import socket
import sys

from uvicorn.supervisors import Multiprocess

# macOS accepts SO_REUSEPORT but hands every connection to one of the sockets.
REUSE_PORT_BALANCES = sys.platform == "linux" and hasattr(socket, "SO_REUSEPORT")
TCP_FAMILIES = (socket.AF_INET, socket.AF_INET6)


def reuse_port_socket(family: socket.AddressFamily, address: tuple) -> socket.socket:
    """A socket bound to `address` with SO_REUSEPORT; listening starts when uvicorn
    serves on it."""
    sock = socket.socket(family)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(address)
    return sock


class ReusePortListener:
    """An address in the supervisor's list of sockets. uvicorn pickles a worker's sockets
    to spawn it; this one unpickles as a new SO_REUSEPORT socket bound in that worker, so
    every worker (restarted ones too) gets its own accept queue."""

    def __init__(self, family: socket.AddressFamily, address: tuple):
        self.family = family
        self.address = address

    def __reduce__(self):
        return reuse_port_socket, (self.family, self.address)


class ReusePortMultiprocess(Multiprocess):
    """uvicorn's supervisor (restarts dead workers, handles signals), handing each worker
    a ReusePortListener instead of the socket it bound."""

    def __init__(self, config, sockets: list[socket.socket]):
        if REUSE_PORT_BALANCES and all(s.family in TCP_FAMILIES for s in sockets):
            self.reserved = []
            listeners = []
            for shared in sockets:
                family, address = shared.family, shared.getsockname()  # port 0 resolved
                shared.close()
                # Bound but never listening: it keeps the port ours between worker
                # restarts and receives no connections.
                self.reserved.append(reuse_port_socket(family, address))
                listeners.append(ReusePortListener(family, address))
            sockets = listeners
        super().__init__(config, sockets)


def main() -> None:
    # uvicorn's own command line: it binds the address, then runs `Multiprocess` from its
    # module's namespace when there are several workers. (`uvicorn.main` the attribute is
    # the command; the module is reached by its name.)
    # Replacing `uvicorn.main.Multiprocess` relies on uvicorn 0.54's internals (pinned
    # ==0.54.0 in requirements): check it again on every uvicorn upgrade.
    uvicorn_main = importlib.import_module("uvicorn.main")
    uvicorn_main.Multiprocess = ReusePortMultiprocess
    uvicorn_main.main(prog_name="python -m omo_site.serve")


if __name__ == "__main__":
    main()
