"""The files the portal keeps on disk under AOS_DATA_DIR: the flash package store
(`storage.packages`) and the programming sessions' frame logs (`storage.frame_logs`).

Not in `db/`, which holds the database and nothing else. Used by the API, the console and the
portal worker's activities, so it sits below `activities` and `application`; it reads flash
packages with `hw.flash_files`, the one part of `hw` the portal uses.
"""
