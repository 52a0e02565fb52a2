"""Made `log_schema3.db`: an event log written by Neuro at schema version 3, for the test of
migration 4 (`tests/kernel/test_migration.py`).

It was run once, on main at schema 3 (commit 3b6a3cb), before migration 4 existed:

    .venv/bin/python tests/kernel/data/make_log_schema3.py

Do not run it again after migration 4: today's kernel would write a schema-4 log, and the
test would no longer test the upgrade of an old file. The log it wrote holds a neuro `tutor`
spawned from a file at v1, called, swapped to v2 from another file (so `versions` holds two
rows with their source) and called again; a `crashy` neuro that answered one call and raised
on another (an error outcome); a `slow` neuro stopped with messages still in its mailbox
(dead letters); and the kernel's start and stop events. VACUUMed to keep the file small.
"""

from __future__ import annotations

import os
import sqlite3
import sys
import tempfile
import textwrap

import trio

import neuro
from neuro.testing import Crashy, Ping, Slow  # at commit 3b6a3cb: tests/kernel/neuros_for_tests.py

HERE = os.path.dirname(os.path.abspath(__file__))

TARGET = os.path.join(HERE, "log_schema3.db")


def tutor_code(answer: str) -> bytes:
    return textwrap.dedent(f'''
        from neuro import sdk

        class Q(sdk.Message):
            text: str = ""

        class A(sdk.Message):
            text: str

        class Tutor(sdk.Neuro):
            name = "tutor"
            input = Q
            output = A

            def handle(self, ctx, msg):
                return A(text="{answer}: " + msg.text)
    ''').encode()


async def write(path: str, folder: str) -> None:
    async with neuro.Kernel(log=path) as k:
        loaded = []
        for answer in ("first", "second"):
            os.makedirs(os.path.join(folder, answer))
            file = os.path.join(folder, answer, "tutor.py")
            with open(file, "wb") as f:
                f.write(tutor_code(answer))
            loaded.append(await k.load(file, trusted=True))
        v1, v2 = loaded
        await k.spawn(v1.cls, source=v1.files)
        for text in ("a", "b"):
            await k.call("tutor", {"text": text})
        await k.swap("tutor", v2.cls, source=v2.files, origin="file")
        for text in ("c", "d"):
            await k.call("tutor", {"text": text})

        await k.spawn(Crashy)
        await k.call("crashy", Ping(n=1))
        try:
            await k.call("crashy", Ping(n=-1))
        except neuro.RemoteError:
            pass  # the error outcome is what the fixture wants

        await k.spawn(Slow)
        for n in (500, 1, 2):  # the first keeps the handler busy; the other two wait in the mailbox
            await k.send("slow", Ping(n=n))
        await trio.sleep(0.05)
        await k.stop("slow", drain=False)  # the queued two end as dead letters, the busy one as an error


def main() -> None:
    if os.path.exists(TARGET):
        sys.exit(f"{TARGET} exists; this script was meant to run once, at schema 3 (see its docstring)")
    from neuro.kernel._logschema import SCHEMA_VERSION

    if SCHEMA_VERSION != 3:
        sys.exit(f"this Neuro writes schema {SCHEMA_VERSION}; the fixture must be written at schema 3")
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "run.db")
        trio.run(write, path, folder)
        conn = sqlite3.connect(path)
        conn.execute("PRAGMA journal_mode=DELETE")  # one file, no -wal beside it
        conn.execute(f"VACUUM INTO '{TARGET}'")
        conn.close()
    conn = sqlite3.connect(TARGET)
    for table in ("messages", "outcomes", "events", "versions", "migrations"):
        print(table, conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
    print("outcomes by kind", conn.execute("SELECT outcome, COUNT(*) FROM outcomes GROUP BY 1").fetchall())
    conn.close()
    print(TARGET, os.path.getsize(TARGET), "bytes")


if __name__ == "__main__":
    main()
