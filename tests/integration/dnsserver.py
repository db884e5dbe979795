"""A DNS server on loopback for the integration tests, and the `dns`
fixture (conftest.py) that points the daemon's resolver at it through
RETRYPROXY_RESOLV_CONF (a resolv.conf of the test's own).

It answers A queries from a table: ok.test -> 127.0.0.1, two.test ->
127.0.0.1 and 127.0.0.2 (in that order), nx.test -> NXDOMAIN, fail.test
-> SERVFAIL, anything under slow.test -> silence; any other name, and
every other query type, gets an empty answer.
"""

import socket
import struct
import threading

__all__ = ["DNSServer"]

A_RECORDS = {
    "ok.test": ["127.0.0.1"],
    "two.test": ["127.0.0.1", "127.0.0.2"],
}


class DNSServer:
    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.queries = []
        self.lock = threading.Lock()
        self.stopping = False
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while not self.stopping:
            try:
                data, peer = self.sock.recvfrom(512)
            except OSError:
                return
            if len(data) < 12:
                continue
            qid, flags, qd = struct.unpack("!HHH", data[:6])
            labels, i = [], 12
            while i < len(data) and data[i] != 0:
                n = data[i]
                labels.append(data[i + 1:i + 1 + n].decode().lower())
                i += 1 + n
            qtype, = struct.unpack("!H", data[i + 1:i + 3])
            question = data[12:i + 5]
            name = ".".join(labels)
            with self.lock:
                self.queries.append((name, qtype))
            if name.endswith("slow.test"):
                continue
            rcode, answers = 0, []
            if name == "nx.test":
                rcode = 3
            elif name == "fail.test":
                rcode = 2
            elif qtype == 1:
                answers = [b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 60, 4)
                           + socket.inet_aton(a)
                           for a in A_RECORDS.get(name, [])]
            hdr = struct.pack("!HHHHHH", qid, 0x8180 | rcode, 1,
                              len(answers), 0, 0)
            self.sock.sendto(hdr + question + b"".join(answers), peer)

    def count(self, name):
        with self.lock:
            return sum(1 for n, t in self.queries if n == name and t == 1)

    def stop(self):
        self.stopping = True
        self.sock.close()
