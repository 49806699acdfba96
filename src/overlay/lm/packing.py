"""Shared-prefix scoring for a causal LM in process: the log-probabilities of many
continuations after their prompts, each prompt computed once.

One request is a prompt and its K continuations. The prompts of several requests are run as
one sequence, each attending only to itself (a block-diagonal mask, positions restarting at 0):
that fills one key/value cache. The continuations of every request are then packed into
sequences of at most `budget` tokens over that cache, each seeing only its own prompt's part of
it and its own earlier tokens, at the positions it would have after its prompt. The numbers are
those of scoring each continuation alone (to float rounding), at a fraction of the cost, and
several requests share each forward pass — which is how the scheduler batches concurrent asks.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

from overlay import cancel

Request = tuple[list[int], Sequence[list[int]]]  # prompt ids, continuations' ids


def score_requests(
    model: Any, device: str, budget: int, requests: Sequence[Request]
) -> list[list[list[float]]]:
    """Per request, per continuation, the log-prob of each of its tokens."""
    import torch

    results: list[list[list[float]]] = [[[] for _ in conts] for _, conts in requests]
    with torch.inference_mode():
        for group in _prompt_groups(requests, budget):
            _score_group(model, device, budget, [requests[i] for i in group],
                         [results[i] for i in group])
    return results


def _prompt_groups(requests: Sequence[Request], budget: int) -> list[list[int]]:
    """Requests whose prompts together fit `budget` tokens share one prefill."""
    groups: list[list[int]] = []
    used = 0
    for i, (prompt, _conts) in enumerate(requests):
        if groups and used + len(prompt) <= budget:
            groups[-1].append(i)
            used += len(prompt)
        else:
            groups.append([i])
            used = len(prompt)
    return groups


def _score_group(
    model: Any, device: str, budget: int, requests: list[Request], into: list[list[list[float]]]
) -> None:
    cancel.check()  # a shutdown (or, called directly, the request's own token) stops here
    cache, firsts, offsets = _prefill(model, device, [p for p, _ in requests])
    # every continuation of the group, shortest first, packed by token budget
    rows = [(r, k) for r, (_, conts) in enumerate(requests) for k in range(len(conts))]
    rows.sort(key=lambda rk: len(requests[rk[0]][1][rk[1]]))
    batch: list[tuple[int, int]] = []
    used = 0
    for r, k in rows:
        cont = requests[r][1][k]
        if cont:
            into[r][k] = [float(firsts[r][cont[0]])]
        if len(cont) > budget:  # too long to pack: alone, in budget-sized pieces
            n_cache = offsets[-1] + len(requests[-1][0])
            _score_long(model, device, budget, cache, (offsets[r], len(requests[r][0]), n_cache),
                        cont, into[r][k])
            continue
        if batch and used + len(cont) > budget:
            _forward(model, device, cache, requests, offsets, batch, into)
            cancel.check()
            batch, used = [], 0
        batch.append((r, k))
        used += len(cont)
    if batch:
        _forward(model, device, cache, requests, offsets, batch, into)


def _prefill(model: Any, device: str, prompts: list[list[int]]) -> tuple[Any, list[Any], list[int]]:
    """One forward over all prompts, each attending only to itself; returns the cache, each
    prompt's next-token log-probs, and where each prompt starts in the cache."""
    import torch

    offsets, at = [], 0
    for p in prompts:
        offsets.append(at)
        at += len(p)
    ids = torch.tensor([[t for p in prompts for t in p]], device=device)
    if len(prompts) == 1:
        out = model(ids, use_cache=True)
    else:
        seg = torch.tensor([k for k, p in enumerate(prompts) for _ in p], device=device)
        allowed = (seg[:, None] == seg[None, :]) & torch.ones(at, at, dtype=torch.bool,
                                                              device=device).tril()
        pos = torch.tensor([[j for p in prompts for j in range(len(p))]], device=device)
        out = model(ids, attention_mask=_mask(allowed, model.dtype), position_ids=pos,
                    use_cache=True)
    logits = out.logits[0].float().log_softmax(-1)
    firsts = [logits[o + len(p) - 1] for o, p in zip(offsets, prompts, strict=True)]
    return out.cache, firsts, offsets


def _mask(allowed: Any, dtype: Any) -> Any:
    import torch

    mask = torch.zeros(allowed.shape, dtype=dtype, device=allowed.device)
    mask.masked_fill_(~allowed, torch.finfo(dtype).min)
    return mask[None, None]


def _forward(
    model: Any,
    device: str,
    cache: Any,
    requests: list[Request],
    offsets: list[int],
    batch: list[tuple[int, int]],
    into: list[list[list[float]]],
) -> None:
    """One packed pass over the continuations in `batch`: each sees its own prompt's part of
    the cache and its own earlier tokens."""
    import torch

    conts = [requests[r][1][k] for r, k in batch]
    n_cache = offsets[-1] + len(requests[-1][0])
    q = sum(len(c) for c in conts)
    if q == 0:
        return
    seg = torch.tensor([s for s, c in enumerate(conts) for _ in c], device=device)
    allowed = torch.zeros((q, n_cache + q), dtype=torch.bool, device=device)
    row = 0
    for (r, _k), c in zip(batch, conts, strict=True):
        allowed[row : row + len(c), offsets[r] : offsets[r] + len(requests[r][0])] = True
        row += len(c)
    causal = torch.ones((q, q), dtype=torch.bool, device=device).tril()
    allowed[:, n_cache:] = (seg[:, None] == seg[None, :]) & causal
    pos = [len(requests[r][0]) + j for (r, _k), c in zip(batch, conts, strict=True)
           for j in range(len(c))]
    out = model(
        torch.tensor([[t for c in conts for t in c]], device=device),
        attention_mask=_mask(allowed, model.dtype),
        position_ids=torch.tensor([pos], device=device),
        cache=copy.deepcopy(cache),
    )
    lp = out.logits[0].float().log_softmax(-1)
    off = 0
    for (r, k), c in zip(batch, conts, strict=True):
        nxt = torch.tensor(c[1:], device=device)
        picked = lp[off : off + len(c) - 1].gather(1, nxt[:, None])[:, 0]
        into[r][k].extend(float(x) for x in picked.tolist())
        off += len(c)


def _score_long(
    model: Any,
    device: str,
    budget: int,
    cache: Any,
    where: tuple[int, int, int],
    cont: list[int],
    into: list[float],
) -> None:
    """A continuation longer than the budget, alone, in budget-sized pieces over a copy of the
    cache; `where` is (its prompt's offset in the cache, the prompt's length, the cache's)."""
    import torch

    offset, n_prompt, n_cache = where
    kv = copy.deepcopy(cache)
    for start in range(0, len(cont) - 1, budget):
        piece = cont[start : start + budget]
        q = len(piece)
        allowed = torch.zeros((q, n_cache + start + q), dtype=torch.bool, device=device)
        allowed[:, offset : offset + n_prompt] = True
        allowed[:, n_cache:] = torch.ones((q, start + q), dtype=torch.bool,
                                          device=device).tril(diagonal=start)
        pos = torch.arange(n_prompt + start, n_prompt + start + q, device=device)
        out = model(torch.tensor([piece], device=device),
                    attention_mask=_mask(allowed, model.dtype), position_ids=pos[None],
                    cache=kv, use_cache=True)
        kv = out.cache
        lp = out.logits[0].float().log_softmax(-1)
        nxt = cont[start + 1 : start + 1 + len(piece)]
        into.extend(float(lp[j, t]) for j, t in enumerate(nxt))
