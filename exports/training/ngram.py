"""Smoothed n-gram models of event sequences: the baseline the shipped melody models are measured against.

:class:`NGramModel` counts n-grams of integer events (vocabulary ``0..V-1``; each sequence is padded on the left
with ``order - 1`` begin markers ``V``) and predicts the full next-event distribution for many positions at once:
every n-gram is coded as one int64 (base ``V + 1`` digits), counts come from :func:`numpy.unique`, look-ups from
:func:`numpy.searchsorted`, so a 5-gram over a few million events fits and scores in seconds.

Two smoothings, both interpolated down to a uniform distribution over the V events:

- ``"kneser-ney"``: interpolated modified Kneser-Ney (Chen & Goodman, "An empirical study of smoothing
  techniques for language modeling", 1998, eqs. 17-19 and 26): the highest order uses counts, lower orders
  continuation counts (how many distinct events precede the n-gram); three discounts per order
  ``D1 = 1 - 2Y n2/n1``, ``D2 = 2 - 3Y n3/n2``, ``D3+ = 3 - 4Y n4/n3`` with ``Y = n1 / (n1 + 2 n2)``;
  ``p(w|h) = (max(c(hw) - D(c(hw)), 0) + (D1 N1(h.) + D2 N2(h.) + D3+ N3+(h.)) p(w|h')) / c(h.)``
  (each D clipped to [0, 1], [0, 2], [0, 3]; all 0.5 when an order has no count of 1 or of 2, i.e. tiny data);
- ``"witten-bell"``: interpolated Witten-Bell (Witten & Bell 1991; Chen & Goodman eq. 9):
  ``p(w|h) = (c(hw) + N1+(h.) p(w|h')) / (c(h.) + N1+(h.))``.

A context never seen in training backs off to the next lower order entirely.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

__all__ = ["NGramModel"]


@dataclass
class _Order:
    grams: np.ndarray      # sorted unique n-gram codes of this order
    counts: np.ndarray     # their (continuation) counts, float64
    ctx: np.ndarray        # sorted unique context codes
    ctx_total: np.ndarray  # sum of counts per context
    ctx_gamma: np.ndarray  # back-off mass numerator per context
    discounts: np.ndarray  # [D0=0, D1, D2, D3+] (Kneser-Ney) or zeros


def _lookup(keys: np.ndarray, values: np.ndarray, query: np.ndarray) -> np.ndarray:
    """values[keys == query] or 0 (``keys`` sorted)."""
    if len(keys) == 0:
        return np.zeros(query.shape, values.dtype)
    i = np.searchsorted(keys, query)
    i = np.minimum(i, len(keys) - 1)
    return np.where(keys[i] == query, values[i], 0)


class NGramModel:
    """An interpolated n-gram model of event sequences (see the module docstring).

    Parameters
    ----------
    order : int
        n (3 = two events of context).
    vocab_size : int
        V: events are ``0..V-1``.
    smoothing : {"kneser-ney", "witten-bell"}

    Raises
    ------
    ValueError
        order < 1, a vocabulary too large for int64 codes, an unknown smoothing.
    """

    def __init__(self, order: int, vocab_size: int, smoothing: str = "kneser-ney"):
        if int(order) < 1:
            raise ValueError(f"order must be >= 1, got {order}")
        if smoothing not in ("kneser-ney", "witten-bell"):
            raise ValueError(f"smoothing is 'kneser-ney' or 'witten-bell', got {smoothing!r}")
        self.order = int(order)
        self.V = int(vocab_size)
        self.base = self.V + 1
        if self.base ** self.order >= 2 ** 62:
            raise ValueError(f"{order}-grams over {vocab_size} events do not fit int64 codes")
        self.smoothing = smoothing
        self.orders: list[_Order] = []

    # -- coding --------------------------------------------------------------------------------------
    def _padded(self, seq) -> np.ndarray:
        s = np.asarray(seq, np.int64)
        if s.size and (s.min() < 0 or s.max() >= self.V):
            raise ValueError(f"events must lie in 0..{self.V - 1}")
        return np.concatenate([np.full(self.order - 1, self.V, np.int64), s])

    def _codes(self, padded: np.ndarray, k: int, positions: np.ndarray) -> np.ndarray:
        """Codes of the k-grams ending at ``positions`` of ``padded``."""
        code = np.zeros(len(positions), np.int64)
        for j in range(k - 1, -1, -1):
            code = code * self.base + padded[positions - j]
        return code

    # -- fitting -------------------------------------------------------------------------------------
    def fit(self, sequences: Iterable[Sequence[int]]) -> "NGramModel":
        """Count the n-grams of ``sequences`` (each padded with begin markers; no end marker).

        Returns
        -------
        NGramModel
            self.
        """
        N = self.order
        padded = [self._padded(seq) for seq in sequences]
        padded = [p for p in padded if len(p) > N - 1]

        def codes(k: int) -> np.ndarray:  # every k-gram ending at a real event (one order at a time: memory)
            parts = [self._codes(p, k, np.arange(N - 1, len(p))) for p in padded]
            return np.concatenate(parts) if parts else np.zeros(0, np.int64)

        self.orders = [None]  # index by k
        uniq_next = None
        for k in range(N, 0, -1):
            if k == N or self.smoothing == "witten-bell":
                grams, counts = np.unique(codes(k), return_counts=True)
            else:
                # continuation counts: distinct (k+1)-grams (distinct left neighbours) ending in each k-gram
                grams, counts = np.unique(uniq_next % (self.base ** k), return_counts=True)
            uniq_next = grams
            self.orders.insert(1, self._order_stats(grams, counts.astype(np.float64), k))
        return self

    def _order_stats(self, grams: np.ndarray, counts: np.ndarray, k: int) -> _Order:
        ctx_of = grams // self.base
        ctx, inv = np.unique(ctx_of, return_inverse=True)
        total = np.bincount(inv, weights=counts, minlength=len(ctx))
        if self.smoothing == "kneser-ney":
            n = [np.sum(counts == i) for i in (1, 2, 3, 4)]
            if n[0] > 0 and n[1] > 0:
                Y = n[0] / (n[0] + 2 * n[1])
                D = [0.0, 1 - 2 * Y * n[1] / n[0],
                     2 - 3 * Y * n[2] / n[1] if n[1] else 1.0,
                     3 - 4 * Y * n[3] / n[2] if n[2] else 1.0]
            else:
                D = [0.0, 0.5, 0.5, 0.5]
            D = np.clip(np.asarray(D, np.float64), 0.0, None)
            D[1:] = np.minimum(D[1:], [1.0, 2.0, 3.0])
            disc = D[np.minimum(counts, 3).astype(np.int64)]
            gamma = np.bincount(inv, weights=disc, minlength=len(ctx))
        else:
            D = np.zeros(4)
            gamma = np.bincount(inv, minlength=len(ctx)).astype(np.float64)  # N1+(h.)
        return _Order(grams, counts, ctx, total, gamma, D)

    # -- prediction ----------------------------------------------------------------------------------
    def _context_codes(self, padded: np.ndarray, positions: np.ndarray) -> np.ndarray:
        """Codes of the N-1 events before each position (positions index ``padded``)."""
        return self._codes(padded, self.order - 1, positions - 1) if self.order > 1 else np.zeros(len(positions),
                                                                                                  np.int64)

    def distributions(self, contexts: np.ndarray) -> np.ndarray:
        """The next-event distribution after each context.

        Parameters
        ----------
        contexts : numpy.ndarray
            int64 ``[P]``: codes of the ``order - 1`` previous events (begin markers ``V`` before the start),
            oldest first, base ``V + 1`` (as :meth:`context_codes` gives them).

        Returns
        -------
        numpy.ndarray
            float64 ``[P, V]``, rows summing to 1.
        """
        if not self.orders:
            raise ValueError("fit the model first")
        contexts = np.asarray(contexts, np.int64)
        P = len(contexts)
        words = np.arange(self.V, dtype=np.int64)
        prob = np.full((P, self.V), 1.0 / self.V)
        for k in range(1, self.order + 1):
            o = self.orders[k]
            h = contexts % (self.base ** (k - 1)) if k > 1 else np.zeros(P, np.int64)
            total = _lookup(o.ctx, o.ctx_total, h)
            gamma = _lookup(o.ctx, o.ctx_gamma, h)
            c = _lookup(o.grams, o.counts, h[:, None] * self.base + words[None, :])
            if self.smoothing == "kneser-ney":
                num = np.maximum(c - o.discounts[np.minimum(c, 3).astype(np.int64)], 0.0) + gamma[:, None] * prob
                den = total[:, None]
            else:
                num = c + gamma[:, None] * prob
                den = (total + gamma)[:, None]
            seen = total > 0
            prob = np.where(seen[:, None], num / np.where(den > 0, den, 1.0), prob)
        return prob

    def context_codes(self, seq: Sequence[int]) -> np.ndarray:
        """The context code before each event of ``seq`` (``[len(seq)]``; the first ones hold begin markers)."""
        p = self._padded(seq)
        return self._context_codes(p, np.arange(self.order - 1, len(p)))

    def sequence_distributions(self, seq: Sequence[int]) -> np.ndarray:
        """``[len(seq), V]``: row t is the distribution of event t given the events before it."""
        return self.distributions(self.context_codes(seq))

    def sample(self, n: int, steps: int, rng=None, temperature: float = 1.0) -> np.ndarray:
        """``n`` sequences of ``steps`` events drawn from the model (from the begin markers).

        Returns
        -------
        numpy.ndarray
            int64 ``[n, steps]``.
        """
        rng = np.random.default_rng(rng)
        out = np.zeros((n, steps), np.int64)
        ctx = np.zeros(n, np.int64)
        for _ in range(self.order - 1):
            ctx = ctx * self.base + self.V
        mod = self.base ** (self.order - 1) if self.order > 1 else 1
        for t in range(steps):
            p = self.distributions(ctx)
            if temperature != 1.0:
                p = np.exp(np.log(np.maximum(p, 1e-300)) / temperature)
                p /= p.sum(axis=1, keepdims=True)
            u = rng.random(n)[:, None]
            e = np.minimum((np.cumsum(p, axis=1) < u).sum(axis=1), self.V - 1)
            out[:, t] = e
            ctx = (ctx * self.base + e) % mod if self.order > 1 else ctx
        return out
