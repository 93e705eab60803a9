#!/usr/bin/python3
"""Crafted GUE for the trust test: sends COUNT GUE packets (vane's layout: GUE version 0, GLB
private data, hop list) carrying one inner UDP datagram, with whatever outer source, inner
addresses and hop list the caller names. Outer IPv6 when OUTER_DST is IPv6 (hops are then IPv6).

    gue_craft.py OUTER_SRC OUTER_DST INNER_SRC INNER_DST:PORT NEXT_HOP HOP[,HOP...] [COUNT]

Uses scapy's layer-3 send (a raw socket), so the outer source may be anything.
"""
import ipaddress
import socket
import struct
import sys

from scapy.all import IP, IPv6, UDP, Raw, send  # Debian's python3-scapy

GUE_PORT = 6080


def main() -> int:
    if len(sys.argv) not in (7, 8):
        sys.exit(__doc__)
    outer_src, outer_dst, inner_src, inner_dst = sys.argv[1:5]
    next_hop = int(sys.argv[5])
    hops = [h for h in sys.argv[6].split(",") if h]
    count = int(sys.argv[7]) if len(sys.argv) == 8 else 1
    if not (1 <= count <= 100 and 0 <= next_hop <= len(hops) <= 4):
        sys.exit("count 1..100, next_hop <= hops <= 4")
    idst, iport = inner_dst.rsplit(":", 1)
    idst = idst.strip("[]")
    inner_v6 = ipaddress.ip_address(idst).version == 6
    outer_v6 = ipaddress.ip_address(outer_dst).version == 6
    inner_l3 = IPv6(src=inner_src, dst=idst) if inner_v6 else IP(src=inner_src, dst=idst)
    inner = bytes(inner_l3 / UDP(sport=40000, dport=int(iport)) / Raw(b"crafted"))
    hop_size = 16 if outer_v6 else 4
    gue = struct.pack("!BBH", (4 + hop_size * len(hops)) // 4, 41 if inner_v6 else 4, 0)
    glb_data = struct.pack("!BBBB", (1 if outer_v6 else 0) << 4, 0, next_hop, len(hops)) + b"".join(
        socket.inet_pton(socket.AF_INET6 if outer_v6 else socket.AF_INET, h) for h in hops)
    outer = IPv6(src=outer_src, dst=outer_dst) if outer_v6 else IP(src=outer_src, dst=outer_dst)
    pkt = outer / UDP(sport=50000, dport=GUE_PORT) / Raw(gue + glb_data + inner)
    send(pkt, count=count, inter=0.01, verbose=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
