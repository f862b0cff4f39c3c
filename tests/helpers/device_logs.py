"""Hand-written event logs of served arrays (tests/device/): a faithful run, and pieces to make it lie."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

D1, D2 = "aaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbb"


def ev(t: int, array: str, action: str, **args: Any) -> dict[str, Any]:
    return {"t": t, "array": array, "n": t, "action": action, "args": args}


def write_ack(t: int, seq: int, lba: int, digest: str, r_digest: str | None = None) -> list[dict[str, Any]]:
    """A host write, R's delivery of the mirrored write, A's delivery of the ack."""
    return [ev(t, "A", "HostWrite", lba=lba, digest=digest),
            ev(t + 1, "R", "Deliver", message={"kind": "MirrorWrite", "seq": seq, "lba": lba,
                                               "digest": r_digest or digest}),
            ev(t + 2, "A", "Deliver", message={"kind": "MirrorAck", "seq": seq})]


def logs(tmp: Path, events: list[dict[str, Any]]) -> list[Path]:
    out = []
    for site in ("A", "R"):
        p = tmp / f"{site}-events.jsonl"
        p.write_text("".join(json.dumps(e) + "\n" for e in events if e["array"] == site))
        out.append(p)
    return out


def faithful() -> list[dict[str, Any]]:
    return [*write_ack(10, 1, 4096, D1), ev(20, "A", "SetMarker", name="good"),
            ev(21, "R", "Deliver", message={"kind": "MirrorWrite", "seq": 2, "lba": -1, "digest": "0"}),
            ev(22, "A", "Deliver", message={"kind": "MirrorAck", "seq": 2}),
            *write_ack(30, 3, 4096, D2),
            ev(40, "A", "StartRecovery", target=2, kind="writethrough"), ev(41, "A", "RecoveryWrite", lba=4096),
            ev(42, "R", "Deliver", message={"kind": "MirrorWrite", "seq": 4, "lba": 4096, "digest": D1}),
            ev(43, "A", "Deliver", message={"kind": "MirrorAck", "seq": 4}), ev(44, "A", "FinishRecovery")]
