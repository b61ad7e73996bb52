"""Where the Optuna studies live: a storage URL opened, with heartbeats where processes share it.

By default a run folder's studies are in SQLite, ``<run folder>/optuna.db`` (:func:`default_storage`);
``--storage`` names any SQLAlchemy URL instead (``postgresql+psycopg://...``), which many
processes, on one machine or several, share. On shared storage a running trial sends a
heartbeat, and a trial whose host died (no heartbeat for three intervals) is failed and queued
again with the same parameters (:func:`open_storage`). URLs are recorded and printed without
their password (:func:`redact`).
"""
from __future__ import annotations

import time
import warnings
from pathlib import Path

import optuna
from benchmark.runfolder import STUDY_DB

DEFAULT_HEARTBEAT = 60            # seconds between a running trial's heartbeats on shared storage


def default_storage(run_dir: Path) -> str:
    """The run folder's own SQLite storage."""
    return f"sqlite:///{(Path(run_dir) / STUDY_DB).resolve()}"


def open_storage(url: str, heartbeat: int | None = DEFAULT_HEARTBEAT):
    """Optuna storage for a URL. With ``heartbeat`` (seconds; for storage that several processes
    share) a running trial sends heartbeats, and a trial whose heartbeat stopped for three
    intervals (its host died) is failed and queued again with the same parameters."""
    if url.startswith("journal") or heartbeat is None:
        return url
    try:
        for attempt in range(3):
            try:
                with warnings.catch_warnings():  # heartbeats and their retry callback are "experimental" in Optuna
                    warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                    return optuna.storages.RDBStorage(
                        url, heartbeat_interval=heartbeat, grace_period=3 * heartbeat,
                        heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=3))
            except Exception as exc:  # noqa: BLE001
                # two processes creating the tables of a new database at once: one loses the race
                # (a unique or "already exists" error); the tables are there a moment later
                if attempt == 2 or type(exc).__name__ not in ("IntegrityError", "ProgrammingError"):
                    raise
                time.sleep(1.0 + attempt)
    except ModuleNotFoundError as exc:
        raise ValueError(f"--storage {redact(url)}: the database driver is missing ({exc.name}); for PostgreSQL "
                         "install it with `pip install -e \".[postgres]\"` (psycopg 3) and write the URL as "
                         "postgresql+psycopg://USER@HOST:PORT/DATABASE") from exc
    except Exception as exc:  # noqa: BLE001 (sqlalchemy's errors: a bad URL, a server not reached)
        raise ValueError(f"--storage {redact(url)}: cannot open it ({type(exc).__name__}: {exc}); storage URLs "
                         "are SQLAlchemy's, e.g. postgresql+psycopg://USER@HOST:PORT/DATABASE") from exc


def redact(url: str) -> str:
    """A storage URL without its password."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        return f"{scheme}://{creds.split(':')[0]}:***@{host}"
    return url
