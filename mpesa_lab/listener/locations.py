"""Where stores live: kept for callers of the listener's old module; the map is :mod:`mpesa_lab.paths`."""

from __future__ import annotations

from mpesa_lab.paths import (
    KEEP_THROWAWAY_STORES,
    MIN_AGE_SECONDS,
    THROWAWAY_NAME,
    folder_store_path,
    prune_throwaway_stores,
    stores_dir,
    throwaway_stores,
)

__all__ = ["KEEP_THROWAWAY_STORES", "MIN_AGE_SECONDS", "THROWAWAY_NAME", "folder_store_path",
           "prune_throwaway_stores", "stores_dir", "throwaway_stores"]
