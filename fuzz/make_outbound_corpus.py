#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_outbound (fuzz/corpus/outbound/): small outbound.db files made
with the project's own schema (read out of src/store/schema.cpp), in the forms a container can
leave them: rows of every status, NULLs and odd types, missing and reshaped tables, a hot
rollback journal and an uncheckpointed WAL (appended after the markers fuzz_outbound.cpp reads).
Run by hand when the schema changes; the files are committed."""

import os
import re
import sqlite3
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "fuzz", "corpus", "outbound")
JOURNAL_MARKER = b"\n--hostsweep-fuzz-journal--\n"
WAL_MARKER = b"\n--hostsweep-fuzz-wal--\n"


def outbound_schema():
    text = open(os.path.join(ROOT, "src", "store", "schema.cpp")).read()
    return re.search(r'kOutboundSchema = R"sql\((.*?)\)sql"', text, re.S).group(1)


def fresh(path, schema=None, page_size=512):
    """A new database at `path`: small pages keep each seed a few KiB."""
    for suffix in ("", "-journal", "-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.remove(path + suffix)
    db = sqlite3.connect(path, isolation_level=None)
    db.execute(f"PRAGMA page_size={page_size}")
    db.execute("PRAGMA journal_mode=DELETE")
    db.executescript(outbound_schema() if schema is None else schema)
    return db


def every_row(db):
    acks = [("m1", "processing", "2026-03-08 07:00:00"), ("m2", "completed", "2026-03-08T07:00:01.250Z"),
            ("m3", "failed", "2026-03-08T08:00:00+01:00"), ("m4", "completed", "not a time"),
            ("m5", "weird", "2026-03-08T07:00:00-0530")]
    db.executemany("INSERT INTO processing_ack VALUES (?, ?, ?)", acks)
    db.execute("INSERT INTO messages_out (id, seq, in_reply_to, timestamp, kind, content) "
               "VALUES ('reply-m2', 3, 'm2', '2026-03-08T07:00:01.000Z', 'chat', '{\"text\":\"hi\"}')")
    db.execute("INSERT INTO session_state VALUES ('k', 'v', '2026-03-08 07:00:00')")
    db.execute("INSERT INTO container_state VALUES (1, 'Bash', 90000, '2026-03-08 07:00:00', '2026-03-08 07:00:00')")


def save(name, *parts):
    with open(os.path.join(OUT, name), "wb") as f:
        for p in parts:
            f.write(p)


def read(path):
    with open(path, "rb") as f:
        return f.read()


def die_mid_transaction(path, wal):
    """A child that writes and dies without committing (or checkpointing): the files it leaves."""
    pid = os.fork()
    if pid == 0:
        db = sqlite3.connect(path, isolation_level=None)
        if wal:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA wal_autocheckpoint=0")
            db.execute("INSERT INTO processing_ack VALUES ('w1', 'processing', '2026-03-08 07:00:00')")
            db.execute("UPDATE container_state SET current_tool = NULL, updated_at = '2026-03-08 07:05:00'")
        else:
            db.execute("PRAGMA cache_size=1")  # spill to the file before the commit that never comes
            db.execute("BEGIN")
            for i in range(40):
                db.execute("INSERT INTO processing_ack VALUES (?, 'processing', '2026-03-08 07:00:00')", (f"j{i}",))
        os._exit(0)
    os.waitpid(pid, 0)


def main():
    os.makedirs(OUT, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "outbound.db")

        fresh(path).close()
        save("empty-schema.db", read(path))

        db = fresh(path)
        every_row(db)
        db.close()
        save("every-row.db", read(path))

        db = fresh(path, page_size=4096)
        every_row(db)
        db.close()
        save("every-row-4k.db", read(path))

        # NULLs and values of the wrong type where the schema does not stop them.
        db = fresh(path)
        db.execute("INSERT INTO processing_ack VALUES ('n1', 'processing', '')")
        db.execute("INSERT INTO processing_ack VALUES (x'00ff', 'completed', 42)")
        db.execute("INSERT INTO processing_ack VALUES (7, 3.5, x'')")
        db.execute("INSERT INTO container_state VALUES (1, NULL, 'ninety', NULL, '2026-03-08 07:00:00')")
        db.close()
        save("nulls-and-types.db", read(path))

        db = fresh(path)
        db.execute("INSERT INTO container_state VALUES (1, 'Bash', 1.5e300, 12, x'41')")
        db.close()
        save("tool-odd-values.db", read(path))

        # Tables missing, or there under another shape (no constraints at all: NULLs everywhere).
        db = fresh(path, "CREATE TABLE processing_ack (message_id TEXT PRIMARY KEY, status TEXT NOT NULL, "
                         "status_changed TEXT NOT NULL);")
        db.execute("INSERT INTO processing_ack VALUES ('m1', 'processing', '2026-03-08 07:00:00')")
        db.close()
        save("only-acks.db", read(path))

        db = fresh(path, "CREATE TABLE processing_ack (message_id, status, status_changed); "
                         "CREATE TABLE container_state (id, current_tool, tool_declared_timeout_ms, tool_started_at, "
                         "updated_at);")
        db.execute("INSERT INTO processing_ack VALUES (NULL, NULL, NULL)")
        db.execute("INSERT INTO processing_ack VALUES ('m1', 'processing', NULL)")
        db.execute("INSERT INTO processing_ack VALUES ('m1', 'completed', '2026-03-08 07:00:00')")
        db.execute("INSERT INTO container_state VALUES (1, NULL, NULL, NULL, NULL)")
        db.close()
        save("untyped-tables.db", read(path))

        db = fresh(path, "CREATE TABLE processing_ack (message_id TEXT); CREATE VIEW container_state AS SELECT 1 AS id;")
        db.close()
        save("reshaped-tables.db", read(path))

        fresh(path, "CREATE TABLE unrelated (x);").close()
        save("no-tables.db", read(path))

        # A writer killed mid-transaction: a hot rollback journal beside the file.
        db = fresh(path)
        every_row(db)
        db.close()
        die_mid_transaction(path, wal=False)
        if not os.path.exists(path + "-journal"):
            sys.exit("make_outbound_corpus: no journal was left")
        save("hot-journal.db", read(path), JOURNAL_MARKER, read(path + "-journal"))

        # A WAL database whose last writes are only in the -wal file.
        db = fresh(path)
        every_row(db)
        db.close()
        die_mid_transaction(path, wal=True)
        if not os.path.exists(path + "-wal"):
            sys.exit("make_outbound_corpus: no WAL was left")
        save("wal.db", read(path), WAL_MARKER, read(path + "-wal"))

        # Not a database, and a database cut short.
        save("garbage.db", b"SQLite format 3\x00" + bytes(range(256)) * 2)
        db = fresh(path)
        every_row(db)
        db.close()
        save("truncated.db", read(path)[:1536])


if __name__ == "__main__":
    main()
