#!/usr/bin/python3
"""Counts what is delivered: binds a UDP socket on every ADDR:PORT given and prints one line per
datagram received ("got ADDR:PORT from SRC"), flushed at once. Prints "ready" once bound. Exits
after MAX_SECONDS (default 600) so that it never outlives a test.

    udp_counter.py ADDR:PORT [ADDR:PORT ...]
"""
import selectors
import socket
import sys
import time


def main() -> int:
    sel = selectors.DefaultSelector()
    for spec in sys.argv[1:]:
        host, port = spec.rsplit(":", 1)
        host = host.strip("[]")
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        s = socket.socket(fam, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((host, int(port)))
        sel.register(s, selectors.EVENT_READ, spec)
    print("ready", flush=True)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        for key, _ in sel.select(timeout=1.0):
            data, src = key.fileobj.recvfrom(2048)
            print("got %s from %s len %d" % (key.data, src[0], len(data)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
