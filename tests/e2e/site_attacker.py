#!/usr/bin/python3
"""Answers vane site agent queries the way an attacker on the fabric or a local user would.

  site_attacker.py forge  ADDR PORT NODE KEYHEX [KEYID]  signs "NODE: web up 100" with a key the site
                                                        does not have; KEYID (hex) puts another key's
                                                        id on it (the real one is on the wire)
  site_attacker.py replay ADDR PORT NODE REAL_ADDR      answers each query with a reply it got from
                                                        the real agent at REAL_ADDR for a nonce of its
                                                        own: validly signed, made for another query
  site_attacker.py squat  ADDR PORT NODE                unsigned "NODE: web up 100" (run as an
                                                        unprivileged user on the agent's own address)
  site_attacker.py hold   ADDR PORT N SECONDS           opens N connections to the agent at ADDR and
                                                        sends nothing, to hold its slots; after
                                                        SECONDS prints "held H closed C" (C: closed
                                                        by the agent within that time)

Each answered query is counted in the log ("answered N"). The layout follows docs/site-health.md;
it is written from that page, not from vane's code, so that a mismatch would show.
"""
import hashlib
import hmac
import os
import select
import socket
import sys
import time

LABEL = b"vane-site-reply-v1\0"


def body(node):
    return ("vane-site 1 %s\nservice web up 100\nend\n" % node).encode()


def read_line(conn, limit=128):
    data = b""
    while b"\n" not in data and len(data) < limit:
        chunk = conn.recv(limit - len(data))
        if not chunk:
            break
        data += chunk
    return data.split(b"\n", 1)[0].decode(errors="replace")


def fetch(addr, port, nonce):
    with socket.create_connection((addr, port), timeout=2) as s:
        s.sendall(("vane-site-query 1 %s\n" % nonce.hex()).encode())
        out = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                return out
            out += chunk


def hold(addr, port, n, seconds):
    socks = []
    reset = 0
    for _ in range(n):
        try:
            socks.append(socket.create_connection((addr, port), timeout=2))
        except ConnectionResetError:
            reset += 1  # accepted and reset before connect() returned: closed by the agent too
        except OSError as e:
            print("connect error: %s" % e, flush=True)
    print("listening: holding %d connection(s)" % (len(socks) + reset), flush=True)
    deadline = time.monotonic() + seconds
    closed = set()
    while time.monotonic() < deadline and len(closed) < len(socks):
        ready, _, _ = select.select([s for s in socks if s not in closed], [], [], max(0.0, deadline - time.monotonic()))
        for s in ready:
            try:
                data = s.recv(4096)
            except OSError:
                data = b""
            if not data:  # the agent closed (or reset) it; an agent never sends unasked
                closed.add(s)
    print("held %d closed %d" % (len(socks) - len(closed), len(closed) + reset), flush=True)


def main():
    if sys.argv[1] == "hold":
        return hold(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]))
    mode, addr, port, node = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind((addr, port))
    lsock.listen(16)
    print("listening on %s:%d as uid %d (%s)" % (addr, port, os.getuid(), mode), flush=True)
    answered = 0
    while True:
        conn, _ = lsock.accept()
        conn.settimeout(2)
        try:
            request = read_line(conn)
            words = request.split()
            if mode == "forge":
                key = bytes.fromhex(sys.argv[5])
                kid = bytes.fromhex(sys.argv[6]) if len(sys.argv) > 6 else hashlib.sha256(b"vane-site-key-id\0" + key).digest()[:8]
                nonce = bytes.fromhex(words[2])
                b = body(node)
                mac = hmac.new(key, LABEL + kid + nonce + b, hashlib.sha256).hexdigest()
                reply = b + ("auth %s %s %s\n" % (kid.hex(), nonce.hex(), mac)).encode()
            elif mode == "replay":
                reply = fetch(sys.argv[5], port, os.urandom(16))
            else:
                reply = body(node)
            conn.sendall(reply)
            conn.shutdown(socket.SHUT_WR)
            answered += 1
            if answered in (1, 10) or answered % 100 == 0:
                print("answered %d" % answered, flush=True)
        except (OSError, IndexError, ValueError) as e:
            print("error: %s" % e, flush=True)
        finally:
            conn.close()


if __name__ == "__main__":
    main()
