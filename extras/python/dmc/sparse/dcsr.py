"""Delta-compressed storage row (dCSR, Trommer et al. 2021), written from the paper's definition.

A row's nonzero columns are taken in groups of 16. With the row's slope
``s = (row_len + n // 2) // n`` (``n`` = stored entries, integer round to nearest), slot ``j`` of
a group stores ``column - j * s`` relative to the group's minimum ("base"): an unsigned delta of
at most 8 bits, kept as a low nibble plus, for each of bits 4..7 that any delta of the group
uses, a flag in the group's 4-bit bitmap and a 16-bit mask of the slots that carry that bit.
Group ``g``'s base is stored as an int8 step: ``base_0 = minimum_0``,
``base_g = base_(g-1) + 16 * s + minimum_g``. Unused slots of a row's last group repeat the base
(delta 0) but hold no value. Every slot's byte offset ``j * s + delta`` must fit 8 bits (the
SIMD gather offsets of the paper's target) and every step int8; where they do not, a zero entry
is inserted in the middle of the row's largest gap and the row is encoded again (padding).
Rows store their entry count as an int16 offset from ``total // rows``; the header holds
``total`` (uint32, the 4 B of the paper's accounting). The byte layout is in dmc/core/FORMAT.md.

``conventions="paper"`` reproduces the reference encoder's accounting choices for comparison:
int8 steps limited to [-127, 126], a single entry padded always before it, and the group
nibbles counted in pairs of groups (16 bytes per pair).
"""
from __future__ import annotations

import heapq

import numpy as np

from ..errors import DataError
from .base import SparseMatrix, nonzeros
from .values import check_matrix, pack, pack_nibbles, unpack, unpack_nibbles

GROUP = 16
EXTENSION_BITS = 4  # delta bits 4..7 are carried by bitmaps + masks
_SLOTS = np.arange(GROUP, dtype=np.int64)
# With s > 17 the last slot of a group is already 15 * s > 255 bytes from its base: no encoding
# can succeed, so padding is inserted without re-encoding until the slope is 17 or less.
_MAX_SLOPE = 255 // (GROUP - 1)


def slope(row_len: int, n: int) -> int:
    """The row's integer slope, round(row_len / n) with halves rounded up (0 for an empty row)."""
    return (row_len + n // 2) // n if n else 0


class DCSR(SparseMatrix):
    """A matrix in dCSR."""

    def decode(self) -> np.ndarray:
        return decode_dcsr(self)


def _encode_row(idx: np.ndarray, row_len: int, step_range: tuple):
    """Group arrays of one row, or None when a delta, offset or step does not fit."""
    n = idx.size
    s = slope(row_len, n)
    g = -(-n // GROUP)
    adj = np.empty(g * GROUP, np.int64)
    adj[:n] = idx - _SLOTS[np.arange(n) % GROUP] * s
    adj = adj.reshape(g, GROUP)
    active = n - (g - 1) * GROUP
    if active < GROUP:
        adj[-1, active:] = adj[-1, :active].min()
    mins = adj.min(axis=1)
    delta = adj - mins[:, None]
    if (delta + _SLOTS * s).max() > 255:
        return None
    steps = mins.copy()
    steps[1:] = mins[1:] - mins[:-1] - GROUP * s
    if steps.min() < step_range[0] or steps.max() > step_range[1]:
        return None
    return steps, delta


def _largest_gap_padding(idx: np.ndarray, row_len: int, paper: bool) -> int:
    """Column of the zero entry inserted in the middle of the row's largest gap."""
    if paper and idx.size == 1:
        return int(idx[0]) // 2
    edges = np.concatenate([[0], idx, [row_len]])  # the first gap is measured from column 0
    gaps = np.diff(edges)
    k = int(np.argmax(gaps))  # leftmost of the largest
    return int(edges[k + 1] - (gaps[k] + 1) // 2)


def _pad_until_feasible_slope(idx: np.ndarray, row_len: int, paper: bool) -> np.ndarray:
    """Insert padding (largest gap first, leftmost on ties) while the slope exceeds _MAX_SLOPE."""
    if slope(row_len, idx.size) <= _MAX_SLOPE or (paper and idx.size == 1):
        return idx
    cols = list(idx.tolist())
    # heap of (-gap, left edge, tie-break, right edge); the last gap runs to row_len
    edges = [0] + cols + [row_len]
    heap = [(-(edges[k + 1] - edges[k]), edges[k], k, edges[k + 1]) for k in range(len(cols) + 1)]
    heapq.heapify(heap)
    new = []
    n = len(cols)
    while slope(row_len, n + len(new)) > _MAX_SLOPE:
        neg, left, order, right = heapq.heappop(heap)
        gap = -neg
        if gap < 2:
            raise DataError("dcsr: internal error, no gap left to pad")  # cannot happen: s > 17 means gaps
        pos = right - (gap + 1) // 2
        new.append(pos)
        # the two halves; order by left edge keeps "leftmost largest gap" as in a linear scan
        heapq.heappush(heap, (-(pos - left), left, order, pos))
        heapq.heappush(heap, (-(right - pos), pos, order, right))
    return np.sort(np.concatenate([idx, np.array(new, np.int64)]))


def encode_dcsr(matrix, value_bits: int = 8, conventions: str = "dmc") -> DCSR:
    if conventions not in ("dmc", "paper"):
        raise DataError(f"dcsr: unknown conventions {conventions!r}; use 'dmc' or 'paper'")
    paper = conventions == "paper"
    step_range = (-127, 126) if paper else (-128, 127)
    m = check_matrix(matrix, value_bits)
    rows, row_len = m.shape
    rows_of, cols, vals, counts = nonzeros(m)
    starts = np.concatenate([[0], np.cumsum(counts)])
    all_steps, all_delta, all_vals, per_row = [], [], [], np.zeros(rows, np.int64)
    for r in range(rows):
        idx = cols[starts[r]:starts[r + 1]]
        v = vals[starts[r]:starts[r + 1]]
        if idx.size == 0:
            continue
        padded = idx
        while True:
            padded = _pad_until_feasible_slope(padded, row_len, paper)
            enc = _encode_row(padded, row_len, step_range)
            if enc is not None:
                break
            pos = _largest_gap_padding(padded, row_len, paper)
            padded = np.sort(np.concatenate([padded, [pos]]), kind="stable")
        if padded.size != idx.size:
            full = np.zeros(padded.size, np.int64)
            full[np.searchsorted(padded, idx, side="right") - 1] = v  # a duplicate (paper quirk) keeps the value last
            v = full
        steps, delta = enc
        all_steps.append(steps)
        all_delta.append(delta)
        all_vals.append(v)
        per_row[r] = padded.size
    total = int(per_row.sum())
    steps = np.concatenate(all_steps) if all_steps else np.zeros(0, np.int64)
    delta = np.concatenate(all_delta) if all_delta else np.zeros((0, GROUP), np.int64)
    values = np.concatenate(all_vals) if all_vals else np.zeros(0, np.int64)
    groups = steps.size
    ext = (delta[:, :, None] >> (4 + np.arange(EXTENSION_BITS))) & 1  # group, slot, bit
    flags = ext.any(axis=1)  # group, bit
    bitmaps = (flags * (1 << np.arange(EXTENSION_BITS))).sum(axis=1)
    weights = 1 << _SLOTS
    masks = (ext.transpose(0, 2, 1) * weights).sum(axis=2)[flags]  # group-major, bit order
    avg = total // rows if rows else 0
    offsets = per_row - avg
    if offsets.size and (offsets.min() < -32768 or offsets.max() > 32767):
        raise DataError(f"dcsr: a row's entry count is {int(np.abs(offsets).max())} away from the average; int16 cannot hold it")
    out = DCSR("dcsr", m.shape, value_bits, int(vals.size), total, {
        "row_offsets": offsets.astype("<i2"),
        "steps": steps.astype(np.int8),
        "bitmaps": pack_nibbles(bitmaps),
        "masks": masks.astype("<u2"),
        "nibbles": pack_nibbles((delta & 15).reshape(-1)),
        "values": pack(values, value_bits),
    }, header_bytes=4)
    if paper and groups % 2:
        out.header_bytes += GROUP // 2  # the reference packs the nibbles of two groups per 16 bytes
    return out


def decode_dcsr(enc: DCSR) -> np.ndarray:
    """The dense matrix, checking every count and index (a DataError names the row or group)."""
    rows, row_len = enc.shape
    a = enc.arrays
    offsets = a["row_offsets"].astype(np.int64)
    if offsets.size != rows:
        raise DataError(f"dcsr: {offsets.size} row offsets for {rows} rows")
    total = enc.entries
    per_row = offsets + (total // rows if rows else 0)
    if per_row.size and (per_row.min() < 0 or per_row.sum() != total):
        raise DataError(f"dcsr: row entry counts {per_row.tolist()[:8]}... do not add up to {total}")
    groups_per_row = -(-per_row // GROUP)
    groups = int(groups_per_row.sum())
    steps = a["steps"].astype(np.int64)
    if steps.size != groups:
        raise DataError(f"dcsr: {steps.size} group steps stored, the row counts need {groups}")
    bitmaps = unpack_nibbles(a["bitmaps"], groups)
    flags = (bitmaps[:, None] >> np.arange(EXTENSION_BITS)) & 1
    masks = a["masks"].astype(np.int64)
    if masks.size != int(flags.sum()):
        raise DataError(f"dcsr: {masks.size} masks stored, the bitmaps set {int(flags.sum())}")
    nib = unpack_nibbles(a["nibbles"], groups * GROUP).reshape(groups, GROUP)
    values = unpack(a["values"], enc.value_bits, total)
    delta = nib.copy()
    ext_bits = np.zeros((groups, EXTENSION_BITS), np.int64)
    ext_bits[flags.astype(bool)] = masks
    for k in range(EXTENSION_BITS):
        delta += ((ext_bits[:, k:k + 1] >> _SLOTS) & 1) << (4 + k)
    out = np.zeros(enc.shape, np.int64)
    g0 = 0
    v0 = 0
    for r in range(rows):
        n = int(per_row[r])
        if n == 0:
            continue
        g = int(groups_per_row[r])
        s = slope(row_len, n)
        bases = np.cumsum(steps[g0:g0 + g] + np.concatenate([[0], np.full(g - 1, GROUP * s)]))
        col = (bases[:, None] + _SLOTS * s + delta[g0:g0 + g]).reshape(-1)[:n]
        if col.min() < 0 or col.max() >= row_len:
            bad = int(np.argmax((col < 0) | (col >= row_len)))
            raise DataError(f"dcsr: row {r}, group {bad // GROUP} slot {bad % GROUP} points to column {int(col[bad])} "
                            f"outside a row of {row_len}")
        v = values[v0:v0 + n]
        real = v != 0
        out[r, col[real]] = v[real]
        g0 += g
        v0 += n
    return out
