"""The reference arrays as real block devices (``pitmirror serve``).

Array A and array R run as two processes (``node``), each the sans-I/O controller core of ``impl/`` over
drives and tables kept in files (``storage``), joined by a TCP connection on loopback (``wire``). nbdkit
exports P read-write and S read-only through a thin plugin (``nbd_plugin``, run by the system Python) that
forwards every NBD request to its array's local socket. ``serve`` supervises the four processes and
restarts an array that dies; ``control`` sends the ``ctl`` commands. Each array logs its protocol steps in
the model's action vocabulary, for ``pitmirror trace validate``. Knows nothing of ``model`` or ``checkers``.
"""

#: The public API: the package's modules (imported by name, so importing the package stays cheap). Not
#: ``nbd_plugin``: it runs inside nbdkit's Python and imports ``nbdkit``, which only exists there.
__all__ = ["control", "node", "serve", "storage", "wire"]
