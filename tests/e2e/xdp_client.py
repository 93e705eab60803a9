#!/usr/bin/python3
"""Client side of the XDP site test: real TCP connections to a server of xdp_server.py, each from
its own source port (bind), with bounded concurrency and a timeout per step. Prints one JSON object.

  bulk SRC DST:PORT FIRST_PORT COUNT [--concurrency N] [--timeout S] [--pace MS]
      COUNT connections from SRC:FIRST_PORT.. ; each reads the server's name and closes. With
      --pace, the i-th connection starts i x MS milliseconds after the first (steady load).
      -> {"total", "ok", "counts": {name: n}, "failures": [[port, error], ...], "max_ms"}
  hold SRC DST:PORT FIRST_PORT COUNT READY_FILE GO_FILE [--timeout S] [--wait S]
      opens COUNT connections and keeps them; writes {"counts": ...} to READY_FILE; waits (at most
      --wait seconds) for GO_FILE to exist; then sends a line on each and reads the name again.
      -> {"total", "ok", "counts", "kept": {name: n}, "broken": {name: n}, "changed", "failures"}
      (by the server that served the connection before)
"""
import argparse
import asyncio
import json
import os
import socket
import sys
import time


async def connect(src: str, port: int, dst: tuple, timeout: float) -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.setblocking(False)
        s.bind((src, port))
        await asyncio.wait_for(asyncio.get_running_loop().sock_connect(s, dst), timeout)
        return s
    except BaseException:
        s.close()
        raise


async def read_line(s: socket.socket, timeout: float) -> str:
    loop = asyncio.get_running_loop()
    buf = b""
    deadline = loop.time() + timeout
    while not buf.endswith(b"\n"):
        left = deadline - loop.time()
        if left <= 0:
            raise asyncio.TimeoutError()
        chunk = await asyncio.wait_for(loop.sock_recv(s, 256), left)
        if not chunk:
            raise ConnectionError("closed before a full reply")
        buf += chunk
        if len(buf) > 255:
            raise ValueError("reply too long")
    return buf.decode().strip()


def describe(e: BaseException) -> str:
    return type(e).__name__ + (": " + str(e) if str(e) else "")


async def bulk(a) -> dict:
    sem = asyncio.Semaphore(a.concurrency)
    counts: dict = {}
    failures: list = []
    worst = 0.0

    async def one(port: int, start: float) -> None:
        nonlocal worst
        await asyncio.sleep(start)
        async with sem:
            t0 = time.monotonic()
            s = None
            try:
                s = await connect(a.src, port, a.dst, a.timeout)
                name = await read_line(s, a.timeout)
                counts[name] = counts.get(name, 0) + 1
            except Exception as e:  # every failure is reported, none retried
                failures.append([port, describe(e)])
            finally:
                if s is not None:
                    s.close()
            worst = max(worst, time.monotonic() - t0)

    await asyncio.gather(*(one(a.first_port + i, i * a.pace / 1000) for i in range(a.count)))
    return {"total": a.count, "ok": sum(counts.values()), "counts": counts,
            "failures": failures[:20], "failed": len(failures), "max_ms": round(worst * 1000)}


async def hold(a) -> dict:
    socks: dict = {}
    before: dict = {}
    failures: list = []

    async def open_one(port: int) -> None:
        try:
            s = await connect(a.src, port, a.dst, a.timeout)
            socks[port] = s
            before[port] = await read_line(s, a.timeout)
        except Exception as e:
            failures.append([port, "open: " + describe(e)])

    await asyncio.gather(*(open_one(a.first_port + i) for i in range(a.count)))
    counts: dict = {}
    for n in before.values():
        counts[n] = counts.get(n, 0) + 1
    with open(a.ready_file + ".tmp", "w") as f:
        json.dump({"opened": len(before), "counts": counts, "failures": failures}, f)
    os.rename(a.ready_file + ".tmp", a.ready_file)

    deadline = time.monotonic() + a.wait
    while not os.path.exists(a.go_file) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)

    loop = asyncio.get_running_loop()
    same = 0
    changed: list = []
    kept: dict = {}    # by the server that served the connection before: still answering
    broken: dict = {}  # ... reset, timed out or answered by another server

    async def ping(port: int) -> None:
        nonlocal same
        s = socks[port]
        name = before[port]
        try:
            await asyncio.wait_for(loop.sock_sendall(s, b"ping\n"), a.timeout)
            after = await read_line(s, a.timeout)
            if after == name:
                same += 1
                kept[name] = kept.get(name, 0) + 1
                return
            changed.append([port, name, after])
        except Exception as e:
            failures.append([port, "after: " + describe(e)])
        finally:
            s.close()
        broken[name] = broken.get(name, 0) + 1

    await asyncio.gather(*(ping(p) for p in list(socks) if p in before))
    return {"total": a.count, "ok": same, "counts": counts, "kept": kept, "broken": broken,
            "changed": changed[:20], "failures": failures[:20], "failed": len(failures) + len(changed),
            "go": os.path.exists(a.go_file)}


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["bulk", "hold"])
    p.add_argument("src")
    p.add_argument("dst")
    p.add_argument("first_port", type=int)
    p.add_argument("count", type=int)
    p.add_argument("ready_file", nargs="?")
    p.add_argument("go_file", nargs="?")
    p.add_argument("--concurrency", type=int, default=64)
    p.add_argument("--timeout", type=float, default=10.0)
    p.add_argument("--wait", type=float, default=60.0)
    p.add_argument("--pace", type=float, default=0.0)
    a = p.parse_args()
    host, port = a.dst.rsplit(":", 1)
    a.dst = (host, int(port))
    if not (1024 <= a.first_port and a.first_port + a.count <= 65536 and 0 < a.count <= 20000):
        p.error("port range out of bounds")
    if a.mode == "hold" and not (a.ready_file and a.go_file):
        p.error("hold needs READY_FILE and GO_FILE")
    r = asyncio.run(bulk(a) if a.mode == "bulk" else hold(a))
    json.dump(r, sys.stdout)
    print()
    return 0 if r["failed"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
