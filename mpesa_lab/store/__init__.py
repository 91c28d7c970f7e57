"""The store: one owner of the lab's SQLite file (schema, group-commit writer, reads and views).

Floor 2 of ../shared/DESIGN.md: it stands on the ground floor only (errors, paths, clock, secret,
codes) and never imports the listener, analytics or the Daraja client. The listener writes
through it (HTTP in front of the store); analytics reads through it (frames from any source).

- :mod:`~mpesa_lab.store.core`     ``CallbackStore``: open, writes, waits, counts
- :mod:`~mpesa_lab.store.records`  what it is handed and gives back (``DeliveryIn``, ...)
- :mod:`~mpesa_lab.store.schema`   the DDL, its version and migration, the checks at open
- :mod:`~mpesa_lab.store.files`    private folders and files (0700 / 0600)
- :mod:`~mpesa_lab.store.writer`   the group-commit writer thread
- :mod:`~mpesa_lab.store.views`    the pandas views
- :mod:`~mpesa_lab.store.frames`   the documented transactions / callbacks frames, built in Arrow
- :mod:`~mpesa_lab.store.arrow`    a store's file -> Arrow record tables (ADBC in a child process)

Names are imported on first use: ``import mpesa_lab.store`` loads neither pandas nor pyarrow.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mpesa_lab._exports import lazy_exports

if TYPE_CHECKING:
    from mpesa_lab.store.core import CallbackStore, default_store_path
    from mpesa_lab.store.errors import CallbackTimeout, StoreError, StoreUnavailable
    from mpesa_lab.store.records import (
        CallbackFields,
        DeliveryIn,
        ExpectedIds,
        Outcome,
        StoredCallback,
        StoredDelivery,
        scrub,
    )

__getattr__, __dir__, __all__ = lazy_exports(__name__)
