"""Every expert's two-layer MLP on the examples routed to it; dropless (no assignment is dropped).

Two layouts, one autograd node each with a hand-written backward:
- padded: the (example, expert) assignments in an (E, capacity, d) buffer, capacity being the
  busiest expert's load, and each layer one `baddbmm` over all experts; padding rows hold
  zeros and get zero gradients. Per-op costs are paid once, not once per expert, which is
  what small expert slices (8 rows each at E=64, batch 256) cannot amortize.
- slices: the assignments sorted by expert and two matmuls per expert on its contiguous
  slice; its cost does not depend on how the load is spread.
The padded buffer wins while the load is even; a skewed load (an untrained gate sends every
example to the same experts; specialized tasks) would make it mostly padding, so past
`MAX_PADDING` the slices run. Measured in docs/benchmarks.md.
"""
from __future__ import annotations

import torch


def padded_slots(flat: torch.Tensor, order: torch.Tensor, counts: torch.Tensor, capacity: int) -> torch.Tensor:
    """Each assignment's row in the (E * capacity) buffer: its expert's block, then its rank
    among that expert's assignments (`order`: the assignments sorted by expert, stably)."""
    starts = torch.cumsum(counts, 0) - counts
    rank = torch.empty_like(flat)
    rank[order] = torch.arange(flat.numel(), device=flat.device) - starts[flat[order]]
    return flat * capacity + rank


class _PaddedExperts(torch.autograd.Function):
    """Two batched matmuls over the (E, capacity, d) buffer."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, slot: torch.Tensor, keep: int, n_experts: int, capacity: int,
                w1: torch.Tensor, b1: torch.Tensor, w2: torch.Tensor, b2: torch.Tensor) -> torch.Tensor:
        batch, width = x.shape
        # Which example fills each buffer row; padding rows read the appended zero row.
        source = torch.full((n_experts * capacity,), batch, dtype=torch.long, device=x.device)
        source[slot] = torch.arange(slot.numel(), device=x.device) // keep
        buffer = torch.cat([x, x.new_zeros(1, width)]).index_select(0, source).view(n_experts, capacity, width)
        hidden = torch.baddbmm(b1, buffer, w1).relu_()
        out = torch.baddbmm(b2, hidden, w2)
        ctx.save_for_backward(buffer, hidden, w1, w2, slot, source)
        ctx.batch = batch
        return out.view(n_experts * capacity, -1).index_select(0, slot)

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):
        buffer, hidden, w1, w2, slot, source = ctx.saved_tensors
        need_x, _, _, _, _, need_w1, need_b1, need_w2, need_b2 = ctx.needs_input_grad
        n_experts, capacity, _ = buffer.shape
        grad_buf = grad_out.new_zeros(n_experts * capacity, grad_out.shape[-1]).index_copy_(0, slot, grad_out)
        grad_buf = grad_buf.view(n_experts, capacity, -1)
        grad_w2 = torch.bmm(hidden.transpose(1, 2), grad_buf) if need_w2 else None
        grad_b2 = grad_buf.sum(1, keepdim=True) if need_b2 else None
        grad_hidden = torch.bmm(grad_buf, w2.transpose(1, 2))
        # Through the ReLU, in place: the fused op autograd uses (a bool-mask fill is 10x slower).
        torch.ops.aten.threshold_backward.grad_input(grad_hidden, hidden, 0, grad_input=grad_hidden)
        grad_w1 = torch.bmm(buffer.transpose(1, 2), grad_hidden) if need_w1 else None
        grad_b1 = grad_hidden.sum(1, keepdim=True) if need_b1 else None
        grad_x = None
        if need_x:
            rows = torch.bmm(grad_hidden, w1.transpose(1, 2)).view(n_experts * capacity, -1)
            grad_x = rows.new_zeros(ctx.batch + 1, rows.shape[-1]).index_add_(0, source, rows)[:ctx.batch]
        return grad_x, None, None, None, None, grad_w1, grad_b1, grad_w2, grad_b2


def _spans(counts: list[int]) -> list[tuple[int, int, int]]:
    """(expert, start, end) of each expert's non-empty slice."""
    spans, start = [], 0
    for expert, count in enumerate(counts):
        if count:
            spans.append((expert, start, start + count))
        start += count
    return spans


class _ExpertSlices(torch.autograd.Function):
    """Per expert, two matmuls on its contiguous slice of expert-sorted rows."""

    @staticmethod
    def forward(ctx, rows: torch.Tensor, counts: list[int], w1: torch.Tensor, b1: torch.Tensor,
                w2: torch.Tensor, b2: torch.Tensor) -> torch.Tensor:
        spans = _spans(counts)
        hidden = rows.new_empty(rows.shape[0], w1.shape[-1])
        out = rows.new_empty(rows.shape[0], w2.shape[-1])
        # Elementwise work runs once over all rows, not once per expert: per-op overhead
        # times E is what small expert slices cannot amortize.
        for e, start, end in spans:
            torch.addmm(b1[e], rows[start:end], w1[e], out=hidden[start:end])
        hidden.relu_()
        for e, start, end in spans:
            torch.addmm(b2[e], hidden[start:end], w2[e], out=out[start:end])
        ctx.save_for_backward(rows, hidden, w1, b1, w2, b2)
        ctx.counts, ctx.spans = counts, spans
        return out

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):
        rows, hidden, w1, b1, w2, b2 = ctx.saved_tensors
        grad_out = grad_out.contiguous()
        counts, spans = ctx.counts, ctx.spans
        need_rows, _, need_w1, need_b1, need_w2, need_b2 = ctx.needs_input_grad
        grad_w1, grad_b1, grad_w2, grad_b2 = (_zero_idle(param, counts) if need else None for param, need in
                                              ((w1, need_w1), (b1, need_b1), (w2, need_w2), (b2, need_b2)))
        grad_hidden = torch.empty_like(hidden)
        for e, start, end in spans:
            torch.mm(grad_out[start:end], w2[e].t(), out=grad_hidden[start:end])
            if grad_w2 is not None:
                torch.mm(hidden[start:end].t(), grad_out[start:end], out=grad_w2[e])
            if grad_b2 is not None:
                torch.sum(grad_out[start:end], 0, keepdim=True, out=grad_b2[e])
        # Through the ReLU, in place: the fused op autograd uses (a bool-mask fill is 10x slower).
        torch.ops.aten.threshold_backward.grad_input(grad_hidden, hidden, 0, grad_input=grad_hidden)
        grad_rows = torch.empty_like(rows) if need_rows else None
        for e, start, end in spans:
            if grad_w1 is not None:
                torch.mm(rows[start:end].t(), grad_hidden[start:end], out=grad_w1[e])
            if grad_b1 is not None:
                torch.sum(grad_hidden[start:end], 0, keepdim=True, out=grad_b1[e])
            if grad_rows is not None:
                torch.mm(grad_hidden[start:end], w1[e].t(), out=grad_rows[start:end])
        return grad_rows, None, grad_w1, grad_b1, grad_w2, grad_b2


def _zero_idle(param: torch.Tensor, counts: list[int]) -> torch.Tensor:
    """An uninitialized gradient for an (E, ...) parameter, zero for experts without rows
    (the others are written whole by the backward, so zeroing them too would be a wasted pass)."""
    grad = torch.empty_like(param)
    idle = [e for e, count in enumerate(counts) if count == 0]
    if idle:
        grad[idle] = 0.0
    return grad


# Padding beyond this factor of the assignments costs more than the per-expert calls it saves
# (measured at batch 256: 1.9x padding at E=64 still won by 2x; with every example on the
# same two of 8 experts, 4x, the padded buffer lost).
MAX_PADDING = 2.0


def grouped_experts(x: torch.Tensor, expert: torch.Tensor, w1: torch.Tensor, b1: torch.Tensor, w2: torch.Tensor,
                    b2: torch.Tensor) -> torch.Tensor:
    """relu(x[b] @ w1[e] + b1[e]) @ w2[e] + b2[e] for every example b and each of its
    experts e = expert[b, j]. x: (B, d_in), expert: (B, k) indices, w1: (E, d_in, h),
    b1: (E, 1, h), w2: (E, h, d_out), b2: (E, 1, d_out). Returns (B, k, d_out)."""
    batch, keep = expert.shape
    n_experts = w1.shape[0]
    flat = expert.reshape(-1)
    counts = torch.bincount(flat, minlength=n_experts)
    capacity = int(counts.max())
    order = torch.argsort(flat, stable=True)
    if n_experts * capacity <= MAX_PADDING * flat.numel():
        slot = padded_slots(flat, order, counts, capacity)
        out = _PaddedExperts.apply(x, slot, keep, n_experts, capacity, w1, b1, w2, b2)
    else:
        inverse = torch.empty_like(order).scatter_(0, order, torch.arange(order.numel(), device=order.device))
        rows = x.index_select(0, order // keep)
        out = _ExpertSlices.apply(rows, counts.tolist(), w1, b1, w2, b2).index_select(0, inverse)
    return out.view(batch, keep, -1)
