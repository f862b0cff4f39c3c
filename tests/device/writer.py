"""A host writing through NBD (run by the system python3, which has Debian's libnbd binding): chunk i of
64 KiB holds its tag and number; each acknowledged chunk is printed, the first error ends the run."""

import sys

import nbd

CHUNK = 64 << 10


def chunk(tag, i):
    return (tag + b"%08d" % i).ljust(64, b".") * (CHUNK // 64)


if __name__ == "__main__":
    uri, first, count, tag = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4].encode()
    h = nbd.NBD()
    h.connect_uri(uri)
    for i in range(first, first + count):
        try:
            h.pwrite(chunk(tag, i), i * CHUNK)
        except nbd.Error as e:
            print("ERR", i, e, flush=True)
            break
        print(i, flush=True)
