"""inet_diag bytecode that keeps the sockets whose local port is in a set, cheap for the kernel
to check however long the set.

The kernel audits a filter on every request before running it: for each jump that lands inside
the program it walks the program from the start to the target (`valid_cc` in
net/ipv4/inet_diag.c), so J such jumps landing on average P ops in cost J × P. A balanced tree
of comparisons down to single ports has about one such jump per port, which is quadratic: at
2,200 ports the audit took 8 ms here, more than the dump it filters.

So the program jumps inside itself only in a small tree over buckets of the sorted port runs
(consecutive ports a..b are one run); inside a bucket it is a decision list whose every failed
test ends the program: per run `S_GE a` (fails: below the run, not in the set → reject) and
`S_GE b+1` (fails: inside the run → accept); a JMP after the bucket's last run rejects. With K
buckets the audit walks about K × the program's length, and a socket takes log2 K + about
2 × runs/K comparisons. Every op's `yes` is the next op (the audit follows the `yes` jumps).
"""

from __future__ import annotations

import math
import struct
from collections.abc import Collection
from typing import Any

BC_JMP, BC_S_GE = 1, 2
_OP = struct.Struct("=BBH")  # inet_diag_bc_op: code, yes (u8 jump), no (u16 jump)
MAX_BUCKETS = 128
RUNS_PER_BUCKET = 8
# nlattr's length is 16 bits and counts its 4-byte header: a longer program is not sent
MAX_BYTECODE = 0xFFFF - 4
# a run takes two 8-byte comparisons; a bucket a JMP and a tree comparison (12 bytes)
MAX_RUNS = (MAX_BYTECODE - 12 * MAX_BUCKETS) // 16
_ACCEPT, _REJECT = "accept", "reject"


class _Op:
    """One op: `code`, its port operand (None for a JMP) and where `no` jumps: another op,
    ACCEPT (the end) or REJECT (past the end)."""

    __slots__ = ("at", "code", "no", "operand")

    def __init__(self, code: int, operand: int | None, no: Any) -> None:
        self.code, self.operand, self.no, self.at = code, operand, no, 0

    @property
    def size(self) -> int:
        return 4 if self.operand is None else 8


def _runs(ports: Collection[int]) -> list[tuple[int, int]]:
    runs: list[tuple[int, int]] = []
    for port in sorted(set(ports)):
        if runs and runs[-1][1] == port - 1:
            runs[-1] = (runs[-1][0], port)
        else:
            runs.append((port, port))
    return runs


def _bucket(runs: list[tuple[int, int]]) -> list[_Op]:
    """A decision list: accept a port inside one of `runs`, reject any other."""
    ops: list[_Op] = []
    for low, high in runs:
        ops.append(_Op(BC_S_GE, low, _REJECT))
        ops.append(_Op(BC_S_GE, high + 1, _ACCEPT) if high < 0xFFFF
                   else _Op(BC_JMP, None, _ACCEPT))
    ops.append(_Op(BC_JMP, None, _REJECT))
    return ops


def _tree(buckets: list[list[tuple[int, int]]]) -> list[_Op]:
    if len(buckets) == 1:
        return _bucket(buckets[0])
    middle = len(buckets) // 2
    right, left = _tree(buckets[middle:]), _tree(buckets[:middle])
    # S_GE the right half's first port: ≥ → the right half, inline next; < → the left half
    return [_Op(BC_S_GE, buckets[middle][0][0], left[0]), *right, *left]


def _fitted(runs: list[tuple[int, int]], most: int) -> list[tuple[int, int]]:
    """`runs` with the closest ones joined (and the ports between them) until at most `most`."""
    if len(runs) <= most:
        return runs
    gaps = sorted(range(1, len(runs)), key=lambda n: runs[n][0] - runs[n - 1][1])
    joined = set(gaps[:len(runs) - most])  # run n joins the one before it
    fitted: list[tuple[int, int]] = []
    for number, run in enumerate(runs):
        if number in joined:
            fitted[-1] = (fitted[-1][0], run[1])
        else:
            fitted.append(run)
    return fitted


def port_filter(ports: Collection[int]) -> tuple[bytes, bool]:
    """Bytecode accepting a socket whose local port is in `ports` (not empty), and whether it
    accepts exactly those: more separate ports than a netlink attribute can carry (about
    4,000) are joined to their nearest neighbours with the ports between (filter again)."""
    exact = _runs(ports)
    runs = _fitted(exact, MAX_RUNS)
    count = min(MAX_BUCKETS, math.ceil(len(runs) / RUNS_PER_BUCKET))
    per = math.ceil(len(runs) / count)
    ops = _tree([runs[start:start + per] for start in range(0, len(runs), per)])
    at = 0
    for op in ops:
        op.at = at
        at += op.size
    total = at
    out = bytearray()
    for op in ops:
        target = total if op.no == _ACCEPT else total + 4 if op.no == _REJECT else op.no.at
        out += _OP.pack(op.code, op.size, target - op.at)
        if op.operand is not None:
            out += _OP.pack(0, 0, op.operand)
    return bytes(out), runs is exact
