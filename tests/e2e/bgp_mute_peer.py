#!/usr/bin/python3
"""A BGP router that stops reading, for fault_slow_peer_test.sh.

    bgp_mute_peer.py LISTEN_ADDR ASN ROUTER_ID HOLD STATUS_FILE

Listens on LISTEN_ADDR:179 with a 4 KiB receive buffer (set before listen, so accepted sockets
inherit it). For each connection, in turn: sends its OPEN (4-byte AS, IPv4 and IPv6 unicast) and a
KEEPALIVE, reads the speaker's OPEN and KEEPALIVE (the session is then Established on both sides),
then: connection 0 is a normal router that reads everything (and sends a KEEPALIVE every
second) until STATUS_FILE.close0 exists, then closes; connection 1 never reads again and goes on
sending a KEEPALIVE every second (so only a watch on what the speaker sends can end it);
connection 2 never reads and sends nothing more (the speaker's hold timer ends it). Appends one line per event to STATUS_FILE: "established N", "closed 1" (a
KEEPALIVE could not be sent: the speaker reset the connection). Stops listening once connection 2
is up; exits when STATUS_FILE.done exists, or after 60 s.
"""
import os
import socket
import struct
import sys
import time

addr, asn, rid, hold, status = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5]
DEADLINE = time.monotonic() + 60


def note(line: str) -> None:
    with open(status, "a") as f:
        f.write(line + "\n")


def msg(kind: int, body: bytes = b"") -> bytes:
    return b"\xff" * 16 + struct.pack("!HB", 19 + len(body), kind) + body


def open_msg() -> bytes:
    caps = b""
    for afi in (1, 2):
        caps += struct.pack("!BBHBB", 1, 4, afi, 0, 1)  # multiprotocol AFI/SAFI 1
    caps += struct.pack("!BBI", 65, 4, asn)  # 4-byte AS
    params = struct.pack("!BB", 2, len(caps)) + caps
    return msg(1, struct.pack("!BHH4sB", 4, 23456 if asn > 65535 else asn, hold, socket.inet_aton(rid), len(params)) + params)


def read_msg(s: socket.socket) -> int:
    head = b""
    while len(head) < 19:
        chunk = s.recv(19 - len(head))
        if not chunk:
            raise ConnectionError("closed during the handshake")
        head += chunk
    length, kind = struct.unpack("!HB", head[16:19])
    if not 19 <= length <= 4096:
        raise ValueError("bad length %d" % length)
    left = length - 19
    while left:
        chunk = s.recv(left)
        if not chunk:
            raise ConnectionError("closed during the handshake")
        left -= len(chunk)
    return kind


def closed_by_peer(s: socket.socket) -> bool:
    # Without reading: a reset shows as a pending socket error; a FIN cannot be seen without
    # reading past the unread data, so a send is the other probe (it fails once the peer is gone).
    return s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) != 0


lst = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
lst.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
lst.bind((addr, 179))
lst.listen(4)
lst.settimeout(1)
note("listening")
n = -1
while n < 2 and time.monotonic() < DEADLINE:
    try:
        s, _ = lst.accept()
    except socket.timeout:
        continue
    n += 1
    s.settimeout(10)
    try:
        s.sendall(open_msg() + msg(4))
        kinds = [read_msg(s), read_msg(s)]
        if kinds != [1, 4]:
            raise ValueError("expected OPEN, KEEPALIVE; got %r" % kinds)
    except (OSError, ValueError) as e:
        note("handshake %d failed: %s" % (n, e))
        s.close()
        n -= 1
        continue
    note("established %d" % n)
    if n == 0:
        s.settimeout(0.2)
        last = time.monotonic()
        while time.monotonic() < DEADLINE and not os.path.exists(status + ".close0"):
            try:
                if not s.recv(65536):
                    break
            except socket.timeout:
                pass
            if time.monotonic() - last >= 1:
                s.sendall(msg(4))
                last = time.monotonic()
        s.close()
        note("closed 0")
        continue
    if n == 2:
        lst.close()  # further attempts are refused
        while time.monotonic() < DEADLINE and not os.path.exists(status + ".done"):
            time.sleep(0.1)
        break
    s.settimeout(0.5)
    while time.monotonic() < DEADLINE:
        time.sleep(1)
        try:
            if closed_by_peer(s):
                break
            s.send(msg(4))
        except OSError:
            break
    note("closed %d" % n)
    s.close()
