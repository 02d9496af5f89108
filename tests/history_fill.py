"""A big history file made directly with SQL (seconds for millions of events, where recording
them through polls would take hours): for the tests that need a large file and for the bench's
`--history` figures.

The events look like a churning machine: short-lived listeners opening and closing in turn on
many ports, by many PIDs, spread evenly over `span` seconds that end at `end`. Their owner and
catalog answer are written inline in each row (as schema 3 did; schema 4 still reads them), so
the file is as big as a file of that version: about 280 bytes an event.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from portwatch.core.store.history import HistoryStore
from portwatch.core.store.history_timeline import rebuild_timeline

FILL = """
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < :count)
INSERT INTO events (run_id, time, event, listeners, proto, family, address, port, exposure,
                    pid, owner_hidden, hidden_reason, owner, service, description, risk,
                    risk_reason)
SELECT :run, :start + i * :step, CASE i % 2 WHEN 0 THEN 'opened' ELSE 'closed' END,
       2000 + (i % 2 = 0), 'tcp', 'ipv4', '127.0.0.1', 20000 + (i / 2) % 40000, 'loopback',
       100000 + (i / 2) % 300000, 0, NULL,
       json_object('process', 'churn' || ((i / 2) % 97), 'user', 'root', 'create_time', NULL,
                   'exe', '/usr/bin/churn',
                   'cmdline', json_array('/usr/bin/churn', '--port', 20000 + (i / 2) % 40000),
                   'ppid', NULL, 'parent', NULL),
       NULL, NULL, 'none', 'nothing known against this port'
FROM n
"""

def fill_history(path: Path, count: int, span: float = 30 * 86400.0,
                 end: float | None = None) -> None:
    """Make `path` a history with `count` opened/closed events over the `span` seconds up to
    `end` (default now), in one run."""
    HistoryStore(path).close()  # the schema, as portwatch makes it
    end = time.time() if end is None else end
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = OFF")
        conn.execute("BEGIN")
        run = conn.execute("INSERT INTO runs (started_at, ended_at, source) VALUES (?, ?,"
                           " 'fill')", (end - span, end)).lastrowid
        conn.execute(FILL, {"count": count, "run": run, "start": end - span,
                            "step": span / max(count, 1)})
        rebuild_timeline(conn)  # the per-minute counts, as the writer keeps them
        conn.execute("COMMIT")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
