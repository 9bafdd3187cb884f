"""Work done in a plain thread, as a view or a task would do it.

Playwright's sync API runs an event loop in the test thread, where the broadcast's
async_to_sync may not run: a stock change committed "elsewhere" runs in a thread of its own.
"""

import threading

from django.db import connection


def run_elsewhere(target, *args, **kwargs) -> None:
    """Run target(*args, **kwargs) in a plain thread and wait for it.

    The thread closes its connection before it ends. With Django's pool, a connection
    its thread never closed stays checked out: closing the pool leaves it open, and only
    the garbage collector, whenever it runs, ends its session. DROP DATABASE at the end
    of the run then found the test database "accessed by other users" now and then.
    """

    def work():
        try:
            target(*args, **kwargs)
        finally:
            connection.close()

    thread = threading.Thread(target=work)
    thread.start()
    thread.join(timeout=10)
