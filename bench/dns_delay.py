#!/usr/bin/python3
"""bench/dns_delay.py — a tiny authoritative DNS server for bench/verify that
answers TXT queries from a table after a fixed delay, so that lookups stay
in flight long enough to matter (the cold-cache test).

    dns_delay.py --table dns.tsv --port PORT [--delay-ms 100] [--delay-max-ms MS]
                 [--ttl 3600] [--stats FILE] [--address 127.0.0.1]

TABLE: `NAME<TAB>VALUE` lines, `#` comments; NAME without the trailing dot,
VALUE the TXT data (split here into 255-octet character-strings).  A name in
the table answers its TXT record (NOERROR without data for other types); any
other name answers NXDOMAIN.  Every answer, NXDOMAIN included, waits
--delay-ms milliseconds, or with --delay-max-ms a uniformly random time
between the two (so that clients started together do not get their answers
in one burst); queries are independent (thousands may wait at once).
UDP and TCP on the same port, loopback only.  Replies larger than 512 bytes
over UDP (or the client's EDNS0 size) come back truncated (TC=1, no answer).

On SIGUSR1, and on exit (SIGTERM/SIGINT), it writes one JSON line to --stats:
queries, answered, nxdomain, peak_in_flight (most answers waiting at once),
in_flight, delay_ms, delay_max_ms, and distinct_names.  Prints "READY PORT" when listening.
Stops after --max-seconds (default 3600) in any case.

    dns_delay.py --probe NAME --port PORT [--address 127.0.0.1]

asks any DNS server on loopback for NAME's TXT record over UDP (1 s timeout),
prints it, and exits 0 when there is one (a readiness check for bench/verify).
"""
import argparse
import asyncio
import json
import os
import random
import signal
import struct
import sys


def parse_table(path):
    table = {}
    with open(path, "rb") as f:
        for raw in f:
            line = raw.rstrip(b"\r\n")
            if not line or line.startswith(b"#"):
                continue
            name, _, value = line.partition(b"\t")
            table.setdefault(name.strip().rstrip(b".").lower(), []).append(value)
    return table


def read_name(pkt, off):
    """The question name (no compression in questions) and the offset after it."""
    labels = []
    for _ in range(128):
        if off >= len(pkt):
            raise ValueError("truncated name")
        n = pkt[off]
        off += 1
        if n == 0:
            return b".".join(labels), off
        if n & 0xC0:
            raise ValueError("compressed question name")
        labels.append(pkt[off:off + n])
        off += n
    raise ValueError("name too long")


class Server:
    def __init__(self, args):
        self.table = parse_table(args.table)
        self.delay = args.delay_ms / 1000.0
        self.delay_max = max(self.delay, (args.delay_max_ms or 0) / 1000.0)
        self.ttl = args.ttl
        self.stats_path = args.stats
        self.queries = 0
        self.answered = 0
        self.nxdomain = 0
        self.in_flight = 0
        self.peak = 0
        self.names = set()

    def reply(self, query, limit):
        """The reply packet to `query`, or None when it is not worth one."""
        if len(query) < 12:
            return None
        qid, flags, qd, _an, _ns, ar = struct.unpack(">HHHHHH", query[:12])
        if flags & 0x8000 or qd != 1:
            return None
        name, off = read_name(query, 12)
        if off + 4 > len(query):
            return None
        qtype, qclass = struct.unpack(">HH", query[off:off + 4])
        question = query[12:off + 4]
        if ar and limit is not None:
            # EDNS0 OPT in the additional section: its class is the UDP size.
            try:
                _n, o2 = read_name(query, off + 4)
                rtype, rclass = struct.unpack(">HH", query[o2:o2 + 4])
                if rtype == 41:
                    limit = max(512, rclass)
            except (ValueError, struct.error):
                pass
        key = name.lower()
        self.names.add(key)
        values = self.table.get(key)
        rcode = 0 if values is not None else 3
        answers = b""
        count = 0
        if values is not None and qtype in (16, 255) and qclass == 1:
            for v in values:
                chunks = [v[i:i + 255] for i in range(0, len(v), 255)] or [b""]
                rdata = b"".join(bytes([len(c)]) + c for c in chunks)
                answers += b"\xc0\x0c" + struct.pack(">HHIH", 16, 1, self.ttl, len(rdata)) + rdata
                count += 1
        rflags = 0x8400 | (flags & 0x0100) | rcode      # QR, AA, RD copied
        pkt = struct.pack(">HHHHHH", qid, rflags, 1, count, 0, 0) + question + answers
        if limit is not None and len(pkt) > limit:
            pkt = struct.pack(">HHHHHH", qid, rflags | 0x0200, 1, 0, 0, 0) + question
        if rcode == 3:
            self.nxdomain += 1
        return pkt

    async def answer(self, query, limit, send):
        self.queries += 1
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            wait = random.uniform(self.delay, self.delay_max)
            if wait > 0:
                await asyncio.sleep(wait)
            try:
                pkt = self.reply(query, limit)
            except (ValueError, struct.error):
                pkt = None
            if pkt is not None:
                send(pkt)
                self.answered += 1
        finally:
            self.in_flight -= 1

    def write_stats(self):
        if not self.stats_path:
            return
        d = {"queries": self.queries, "answered": self.answered, "nxdomain": self.nxdomain,
             "peak_in_flight": self.peak, "in_flight": self.in_flight,
             "delay_ms": round(self.delay * 1000, 3),
             "delay_max_ms": round(self.delay_max * 1000, 3), "distinct_names": len(self.names)}
        tmp = self.stats_path + ".tmp"
        with open(tmp, "w") as f:
            f.write(json.dumps(d, separators=(",", ":")) + "\n")
        os.replace(tmp, self.stats_path)


class Udp(asyncio.DatagramProtocol):
    def __init__(self, server):
        self.server = server
        self.transport = None

    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        asyncio.ensure_future(self.server.answer(
            data, 512, lambda pkt: self.transport.sendto(pkt, addr)))


async def tcp_client(server, reader, writer):
    try:
        for _ in range(100):            # at most 100 queries per connection
            head = await asyncio.wait_for(reader.readexactly(2), 10)
            (n,) = struct.unpack(">H", head)
            query = await asyncio.wait_for(reader.readexactly(n), 10)
            out = []
            await server.answer(query, None, out.append)
            for pkt in out:
                writer.write(struct.pack(">H", len(pkt)) + pkt)
            await writer.drain()
    except (asyncio.IncompleteReadError, asyncio.TimeoutError, ConnectionError):
        pass
    finally:
        writer.close()


def probe(name, address, port):
    import socket
    qid = random.randrange(65536)
    q = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    q += b"".join(bytes([len(p)]) + p.encode() for p in name.rstrip(".").split(".")) + b"\0"
    q += struct.pack(">HH", 16, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(1.0)
        s.sendto(q, (address, port))
        try:
            resp, _ = s.recvfrom(4096)
        except OSError as e:
            print("no answer: %s" % e)
            return 1
    rid, flags, _qd, an = struct.unpack(">HHHH", resp[:8])
    if rid != qid or flags & 0xF or an == 0:
        print("rcode %d, %d answers" % (flags & 0xF, an))
        return 1
    # Skip the question, read the first answer's TXT strings.
    _n, off = read_name(resp, 12)
    off += 4 + 2 + 10
    rdlen = struct.unpack(">H", resp[off - 2:off])[0]
    rdata, out = resp[off:off + rdlen], b""
    while rdata:
        out += rdata[1:1 + rdata[0]]
        rdata = rdata[1 + rdata[0]:]
    print(out.decode("ascii", "replace"))
    return 0


async def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--table")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--address", default="127.0.0.1")
    ap.add_argument("--delay-ms", type=float, default=100.0)
    ap.add_argument("--delay-max-ms", type=float)
    ap.add_argument("--ttl", type=int, default=3600)
    ap.add_argument("--stats")
    ap.add_argument("--max-seconds", type=float, default=3600.0)
    ap.add_argument("--probe", metavar="NAME")
    args = ap.parse_args()
    if not args.address.startswith("127."):
        sys.exit("dns_delay: loopback addresses only")
    if args.probe:
        sys.exit(probe(args.probe, args.address, args.port))
    if not args.table:
        ap.error("--table is required")
    server = Server(args)
    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lambda: stop.done() or stop.set_result(True))
    loop.add_signal_handler(signal.SIGUSR1, server.write_stats)
    transport, _ = await loop.create_datagram_endpoint(
        lambda: Udp(server), local_addr=(args.address, args.port))
    tcp = await asyncio.start_server(lambda r, w: tcp_client(server, r, w),
                                     args.address, args.port, backlog=256)
    server.write_stats()
    print(f"READY {args.port}", flush=True)
    try:
        await asyncio.wait_for(stop, args.max_seconds)
    except asyncio.TimeoutError:
        pass
    tcp.close()
    transport.close()
    server.write_stats()


if __name__ == "__main__":
    asyncio.run(main())
