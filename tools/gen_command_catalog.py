#!/usr/bin/env python3
"""Generates crates/server/src/acl/catalog_command.resp: redis-server 7.0's own answers to
`COMMAND INFO <name>` and `COMMAND DOCS <name>` for every command (subcommands nested as
Redis nests them), as RESP3 bytes. It extends the catalogue of acl/catalog.rs (same
command names, same source: a running Debian redis-server 7.0) with what COMMAND
reports: flags, key specs, tips, ACL categories, and the documentation (summary, since,
group, complexity, arguments). Facts, kept as data; acl/command_docs.rs reads them.

Usage: python3 tools/gen_command_catalog.py PORT > crates/server/src/acl/catalog_command.resp
Format: for each top-level command, sorted by name, one RESP3 array of three frames:
[name, COMMAND INFO entry, COMMAND DOCS entry].
"""
import socket
import sys

port = int(sys.argv[1])
s = socket.create_connection(("127.0.0.1", port))
buf = b""

def send(*args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a.encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    s.sendall(out)

def need(n):
    global buf
    while len(buf) < n:
        chunk = s.recv(1 << 20)
        if not chunk:
            raise SystemExit("connection closed")
        buf += chunk

def line(pos):
    while True:
        i = buf.find(b"\r\n", pos)
        if i >= 0:
            return i
        need(len(buf) + 1)

def frame_end(pos):
    """End offset of the frame starting at pos (reads more as needed)."""
    need(pos + 1)
    t = buf[pos:pos + 1]
    e = line(pos)
    head = buf[pos + 1:e]
    if t in (b"$", b"=", b"!"):
        n = int(head)
        if n < 0:
            return e + 2
        need(e + 2 + n + 2)
        return e + 2 + n + 2
    if t in (b"*", b"~", b">", b"%", b"|"):
        n = int(head)
        if n < 0:
            return e + 2
        if t in (b"%", b"|"):
            n *= 2
        p = e + 2
        for _ in range(n):
            p = frame_end(p)
        return p
    return e + 2

def read_frame():
    global buf
    end = frame_end(0)
    f, buf = buf[:end], buf[end:]
    return f

def children(frame):
    """The element frames of an aggregate frame."""
    global buf
    saved = buf
    buf = frame
    e = buf.find(b"\r\n")
    n = int(buf[1:e])
    if buf[:1] in (b"%", b"|"):
        n *= 2
    out, p = [], e + 2
    for _ in range(n):
        q = frame_end(p)
        out.append(buf[p:q])
        p = q
    buf = saved
    return out

send("HELLO", "3")
read_frame()
send("COMMAND", "LIST")
names = []
for f in children(read_frame()):
    n = f.split(b"\r\n")[1].decode()
    if "|" not in n:
        names.append(n)
names.sort()
out = sys.stdout.buffer
for name in names:
    send("COMMAND", "INFO", name)
    info = children(read_frame())[0]
    send("COMMAND", "DOCS", name)
    docs = children(read_frame())
    b = name.encode()
    out.write(b"*3\r\n$%d\r\n%s\r\n" % (len(b), b) + info + docs[1])
