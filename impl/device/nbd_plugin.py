"""The nbdkit plugin: a thin shim that forwards each NBD request to an array's process over its local socket.

nbdkit's Python plugin runs the system Python (``/usr/bin/python3``), not pitmirror's environment, so this
file imports nothing of pitmirror: it only frames requests (``>BQII``: op, offset, length, data length, then
the data) and reads answers (``>II``: errno, data length, then the data), the format of
``impl/device/node.py``. Run as ``nbdkit python nbd_plugin.py sock=<array>.host.sock [readonly=1]``.
Block alignment is the array's business: ``pitmirror serve`` puts nbdkit's blocksize filter in front, so
every request reaching the array covers whole blocks.

``block=BYTES atomic=BYTES``: the NBD block size constraints the clients are told (``block_size``): the block
as the minimum, the array's atomic write as the preferred size (a write of at most that many bytes is one
journal record, all or nothing across a power loss), and the most one request may carry as the maximum.
NBD has no word for atomicity: the preferred size is where clients that size their writes look.
"""

import errno
import socket
import struct

import nbdkit

API_VERSION = 2
REQ = struct.Struct(">BQII")
ANS = struct.Struct(">II")
OP_READ, OP_WRITE, OP_ZERO, OP_FLUSH, OP_SIZE = 0, 1, 2, 3, 4
_config = {"sock": "", "readonly": "0", "block": "4096", "atomic": "4096"}
MAX_REQUEST = 4 << 20  # serve's maxdata: longer requests are split by the blocksize filter


def config(key, value):
    if key not in _config:
        raise RuntimeError(f"unknown parameter {key!r} (sock=PATH, readonly=0|1, block=BYTES, atomic=BYTES)")
    _config[key] = value


def config_complete():
    if not _config["sock"]:
        raise RuntimeError("sock=PATH is required: the array's host socket")


def thread_model():
    return nbdkit.THREAD_MODEL_SERIALIZE_REQUESTS


def _recv(s, n):
    out = bytearray()
    while len(out) < n:
        chunk = s.recv(n - len(out))
        if not chunk:
            raise ConnectionError("the array closed its host socket")
        out += chunk
    return bytes(out)


def _call(h, op, offset=0, length=0, data=b""):
    s = h["sock"]
    s.sendall(REQ.pack(op, offset, length, len(data)) + data)
    err, dlen = ANS.unpack(_recv(s, ANS.size))
    out = _recv(s, dlen) if dlen else b""
    if err:
        nbdkit.set_error(err)
        raise RuntimeError(f"array answered errno {err} ({errno.errorcode.get(err, '?')})")
    return out


def open(readonly):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(_config["sock"])
    return {"sock": s}


def close(h):
    h["sock"].close()


def get_size(h):
    return struct.unpack(">Q", _call(h, OP_SIZE))[0]


def block_size(h):
    return int(_config["block"]), int(_config["atomic"]), MAX_REQUEST


def can_write(h):
    return _config["readonly"] != "1"


def can_flush(h):
    return True


def can_zero(h):
    return _config["readonly"] != "1"


def can_fua(h):
    # every write the array acknowledges is already durable (its journal record and tables are synced
    # before the answer), so a write with FUA needs nothing more: no flush after it
    return nbdkit.FUA_NATIVE


def can_multi_conn(h):
    return True


def pread(h, buf, offset, flags):
    buf[:] = _call(h, OP_READ, offset, len(buf))


def pwrite(h, buf, offset, flags):
    _call(h, OP_WRITE, offset, len(buf), bytes(buf))


def zero(h, count, offset, flags):
    _call(h, OP_ZERO, offset, count)


def flush(h, flags):
    _call(h, OP_FLUSH)
