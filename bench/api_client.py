#!/usr/bin/env python3
"""The control-socket benchmark's client (bench/api.sh): gureum's REST API or QEMU's QMP, both
on a Unix socket, one persistent connection.

  api_client.py gureum|qmp SOCKET N LOG -- VMM-COMMAND...

starts the VMM (its output to LOG), takes the wall and CPU ms until SOCKET first answers a
status request, then N status requests in a row (latency and rate), and stops the VMM. Lines
"BENCH KIND METRIC VALUE" on stdout.
"""
import json
import os
import socket
import subprocess
import sys
import time


def cpu_ms(pid):
    """CPU time of every thread of pid so far (schedstat's first field is ns on a CPU)."""
    total = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/schedstat") as f:
            total += int(f.read().split()[0])
    return total / 1e6


class Gureum:
    REQUEST = b"GET /api/v1/vm HTTP/1.1\r\nHost: localhost\r\n\r\n"

    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX)
        self.s.connect(path)
        self.buf = b""

    def status(self):
        self.s.sendall(self.REQUEST)
        while b"\r\n\r\n" not in self.buf:
            self.buf += self.recv()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        while len(self.buf) < length:
            self.buf += self.recv()
        body, self.buf = self.buf[:length], self.buf[length:]
        if not head.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(head.decode(errors="replace"))
        return json.loads(body)

    def recv(self):
        data = self.s.recv(65536)
        if not data:
            raise RuntimeError("the VMM closed the connection")
        return data


class Qmp:
    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX)
        self.s.connect(path)
        self.f = self.s.makefile("rb")
        self.reply()  # the greeting
        self.command("qmp_capabilities")

    def reply(self):
        while True:
            line = self.f.readline()
            if not line:
                raise RuntimeError("QEMU closed the connection")
            msg = json.loads(line)
            if "event" not in msg:
                return msg

    def command(self, name):
        self.s.sendall(json.dumps({"execute": name}).encode() + b"\n")
        msg = self.reply()
        if "return" not in msg:
            raise RuntimeError(str(msg))
        return msg["return"]

    def status(self):
        return self.command("query-status")


def connect(kind, path):
    return Gureum(path) if kind == "gureum" else Qmp(path)


def ready(kind, path, vmm, start):
    """Polls every 0.2 ms from the VMM's start: the first answer's wall and CPU ms."""
    while time.monotonic() - start < 60:
        try:
            connect(kind, path).status()
            return (time.monotonic() - start) * 1000, cpu_ms(vmm.pid)
        except (OSError, RuntimeError, ValueError):
            if vmm.poll() is not None:
                raise SystemExit(f"{kind}: the VMM exited with status {vmm.returncode}")
            time.sleep(0.0002)
    raise SystemExit(f"{kind}: {path} did not answer in 60 s")


def rounds(kind, path, n):
    c = connect(kind, path)
    c.status()
    lat = []
    start = time.monotonic()
    for _ in range(n):
        t = time.monotonic()
        c.status()
        lat.append((time.monotonic() - t) * 1e6)
    total = time.monotonic() - start
    lat.sort()
    return lat[len(lat) // 2], lat[int(len(lat) * 0.99)], n / total


def main():
    kind, path, n, log = sys.argv[1:5]
    if sys.argv[5] != "--":
        raise SystemExit("usage: api_client.py gureum|qmp SOCKET N LOG -- VMM-COMMAND...")
    with open(log, "wb") as out:
        start = time.monotonic()
        vmm = subprocess.Popen(sys.argv[6:], stdin=subprocess.DEVNULL, stdout=out,
                               stderr=subprocess.STDOUT)
    try:
        wall, cpu = ready(kind, path, vmm, start)
        print(f"BENCH {kind} ready_wall_ms {wall:.1f}")
        print(f"BENCH {kind} ready_cpu_ms {cpu:.1f}")
        p50, p99, rate = rounds(kind, path, int(n))
        print(f"BENCH {kind} status_p50_us {p50:.0f}")
        print(f"BENCH {kind} status_p99_us {p99:.0f}")
        print(f"BENCH {kind} status_per_s {rate:.0f}")
    finally:
        vmm.kill()
        vmm.wait()


if __name__ == "__main__":
    main()
