"""Read the records of an offline W&B run file (run-*.wandb: a LevelDB-style log of protobufs)."""

from __future__ import annotations

import struct
from pathlib import Path

from wandb.proto import wandb_internal_pb2 as pb

BLOCK = 32768
HEADER = 7  # ':W&B' + magic (2 bytes) + version (1 byte); each record header: crc32, length, type


def records(path: Path) -> list[pb.Record]:
    raw = path.read_bytes()
    assert raw[:4] == b":W&B", f"{path} is not a W&B run file"
    pos, chunk, out = HEADER, b"", []
    while pos + HEADER <= len(raw):
        if BLOCK - pos % BLOCK < HEADER:  # block trailer padding
            pos += BLOCK - pos % BLOCK
            continue
        _crc, length, kind = struct.unpack("<IHB", raw[pos : pos + HEADER])
        pos += HEADER
        if kind == 0 and length == 0:
            break
        chunk += raw[pos : pos + length]
        pos += length
        if kind in (1, 4):  # a FULL record, or the LAST piece of one
            rec = pb.Record()
            rec.ParseFromString(chunk)
            out.append(rec)
            chunk = b""
    return out


def _key(item) -> str:
    return item.key or "/".join(item.nested_key)


def read_run(path: Path) -> dict:
    """{'run': RunRecord, 'history': [dict], 'summary': dict, 'config': dict} of one run file."""
    run, history, summary, config = None, [], {}, {}
    for rec in records(path):
        kind = rec.WhichOneof("record_type")
        if kind == "run":
            run = rec.run
            config.update({_key(i): i.value_json for i in rec.run.config.update})
        elif kind == "config":
            config.update({_key(i): i.value_json for i in rec.config.update})
        elif kind == "history":
            history.append({_key(i): i.value_json for i in rec.history.item if not _key(i).startswith("_")})
        elif kind == "summary":
            summary.update({_key(i): i.value_json for i in rec.summary.update if not _key(i).startswith("_")})
    return {"run": run, "history": history, "summary": summary, "config": config}
