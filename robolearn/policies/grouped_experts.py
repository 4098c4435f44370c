"""Every expert's two-layer MLP on the examples routed to it; dropless (no assignment is dropped).

The assignments are sorted by expert and each expert runs two matmuls on its contiguous
slice, all experts in one autograd node with a hand-written backward; the cost does not
depend on how the load is spread, and an example's result does not depend on which other
experts exist (adapting to new tasks leaves old tasks' actions bit for bit the same). A padded
(E, busiest load, d) buffer with one batched matmul per layer was measured faster on the
experts alone at even loads, but gave no gain in a whole SAC update and changed old tasks'
actions in the last bits once experts were added (docs/benchmarks.md).
"""
from __future__ import annotations

import torch


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


def grouped_experts(x: torch.Tensor, expert: torch.Tensor, w1: torch.Tensor, b1: torch.Tensor, w2: torch.Tensor,
                    b2: torch.Tensor) -> torch.Tensor:
    """relu(x[b] @ w1[e] + b1[e]) @ w2[e] + b2[e] for every example b and each of its
    experts e = expert[b, j]. x: (B, d_in), expert: (B, k) indices, w1: (E, d_in, h),
    b1: (E, 1, h), w2: (E, h, d_out), b2: (E, 1, d_out). Returns (B, k, d_out)."""
    batch, keep = expert.shape
    flat = expert.reshape(-1)
    counts = torch.bincount(flat, minlength=w1.shape[0]).tolist()
    order = torch.argsort(flat, stable=True)
    inverse = torch.empty_like(order).scatter_(0, order, torch.arange(order.numel(), device=order.device))
    rows = x.index_select(0, order // keep)
    out = _ExpertSlices.apply(rows, counts, w1, b1, w2, b2).index_select(0, inverse)
    return out.view(batch, keep, -1)
