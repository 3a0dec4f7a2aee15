#!/usr/bin/env python3
"""Display clients for tests/load/run: N Server-Sent Event streams of /api/v1/events,
each its own TCP connection, as N waiting-room displays would hold them.

A client that loses its stream (the server ends streams that fall too far behind)
reconnects with Last-Event-ID, as EventSource does, and the events it gets are counted
once by id. Standard library only. Writes "connected N" to the ready file once every
client has its stream, and a JSON summary to stdout when it gets SIGTERM or SIGINT.
"""

import argparse
import asyncio
import json
import signal
import statistics
import sys
import time


class Client:
    def __init__(self):
        self.ids = set()
        self.last_id = None
        self.reconnects = 0
        self.errors = 0
        self.connected = asyncio.Event()


async def read_head(reader):
    status = await reader.readline()
    parts = status.split()
    code = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
    chunked = False
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b""):
            break
        if line.lower().startswith(b"transfer-encoding:") and b"chunked" in line.lower():
            chunked = True
    return code, chunked


async def chunks(reader, chunked):
    """The body's bytes, de-chunked."""
    if not chunked:
        while True:
            data = await reader.read(65536)
            if not data:
                return
            yield data
    while True:
        size_line = await reader.readline()
        if not size_line:
            return
        size = int(size_line.split(b";")[0].strip() or b"0", 16)
        if size == 0:
            return
        data = await reader.readexactly(size)
        await reader.readexactly(2)
        yield data


async def stream(c, host, port, path, stop):
    while not stop.is_set():
        writer = None
        try:
            reader, writer = await asyncio.open_connection(host, port)
            head = f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAccept: text/event-stream\r\n"
            if c.last_id is not None:
                head += f"Last-Event-ID: {c.last_id}\r\n"
            writer.write((head + "\r\n").encode())
            await writer.drain()
            code, chunked = await read_head(reader)
            if code != 200:
                c.errors += 1
                await asyncio.sleep(1)
                continue
            c.connected.set()
            buf = b""
            async for data in chunks(reader, chunked):
                buf += data
                while b"\n\n" in buf:
                    frame, buf = buf.split(b"\n\n", 1)
                    for line in frame.split(b"\n"):
                        if line.startswith(b"id: "):
                            i = int(line[4:])
                            c.ids.add(i)
                            c.last_id = i
            if not stop.is_set():
                c.reconnects += 1
        except (OSError, asyncio.IncompleteReadError, ValueError):
            c.errors += 1
            await asyncio.sleep(0.5)
        finally:
            if writer is not None:
                writer.close()


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--clients", type=int, default=200)
    ap.add_argument("--ready", required=True, help="file written once all are connected")
    a = ap.parse_args()

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for s in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(s, stop.set)
    clients = [Client() for _ in range(a.clients)]
    t0 = time.monotonic()
    tasks = [asyncio.create_task(stream(c, a.host, a.port, "/api/v1/events", stop)) for c in clients]
    await asyncio.wait_for(asyncio.gather(*(c.connected.wait() for c in clients)), 60)
    connect_s = time.monotonic() - t0
    with open(a.ready, "w") as f:
        f.write(f"connected {a.clients}\n")
    await stop.wait()
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    counts = [len(c.ids) for c in clients]
    union = set().union(*(c.ids for c in clients))
    json.dump(
        {
            "clients": a.clients,
            "connect_seconds": round(connect_s, 3),
            "events_min": min(counts),
            "events_median": statistics.median(counts),
            "events_max": max(counts),
            "distinct_events": len(union),
            "clients_missing_events": sum(1 for n in counts if n < len(union)),
            "reconnects": sum(c.reconnects for c in clients),
            "errors": sum(c.errors for c in clients),
        },
        sys.stdout,
    )
    sys.stdout.write("\n")


if __name__ == "__main__":
    asyncio.run(main())
