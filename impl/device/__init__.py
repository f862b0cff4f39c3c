"""The reference arrays as real block devices (``pitmirror serve``).

Array A and array R run as two processes (``node``; ``array_a`` and ``array_r`` over what both share in
``site``), each the sans-I/O controller core of ``impl/`` over drives and tables kept in files (``storage``),
joined by a TCP connection on loopback (``wire`` for the bytes, ``path_link`` for the connection). nbdkit
exports P read-write and S read-only through a thin plugin (``nbd_plugin``, run by the system Python) that
forwards every NBD request to its array's local socket. ``serve`` supervises the four processes and
restarts an array that dies; ``control`` sends the ``ctl`` commands. Each array logs its protocol steps in
the model's action vocabulary, for ``pitmirror trace validate``. Knows nothing of ``model`` or ``checkers``.
"""

#: The public API: the package's modules (imported by name, so importing the package stays cheap). Not
#: ``nbd_plugin``: it runs inside nbdkit's Python and imports ``nbdkit``, which only exists there.
__all__ = ["array_a", "array_r", "control", "node", "path_link", "serve", "site", "storage", "wire"]
