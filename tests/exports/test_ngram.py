"""The n-gram baseline of the melody benches: vectorised smoothing == a plain loop over dictionaries."""
from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np
import pytest

from tonehost.exports.training.ngram import NGramModel


def _reference(seqs, order, V, smoothing):
    """Textbook interpolated modified Kneser-Ney / Witten-Bell with dictionaries, one probability at a time."""
    BOS = V
    grams = [Counter() for _ in range(order + 1)]
    for s in seqs:
        p = [BOS] * (order - 1) + list(s)
        for t in range(order - 1, len(p)):
            for k in range(1, order + 1):
                grams[k][tuple(p[t - k + 1:t + 1])] += 1
    counts = [None] * (order + 1)
    counts[order] = grams[order]
    for k in range(order - 1, 0, -1):
        if smoothing == "witten-bell":
            counts[k] = grams[k]
        else:
            cont = Counter()
            for g in counts[k + 1]:
                cont[g[1:]] += 1
            counts[k] = cont
    disc = [None] * (order + 1)
    for k in range(1, order + 1):
        n1, n2, n3, n4 = (sum(1 for c in counts[k].values() if c == i) for i in (1, 2, 3, 4))
        if n1 and n2:  # Chen & Goodman's estimates; the model's documented fallbacks otherwise
            Y = n1 / (n1 + 2 * n2)
            d = [0, 1 - 2 * Y * n2 / n1, 2 - 3 * Y * n3 / n2, 3 - 4 * Y * n4 / n3 if n3 else 1.0]
        else:
            d = [0, 0.5, 0.5, 0.5]
        disc[k] = [0] + [min(max(x, 0.0), cap) for x, cap in zip(d[1:], (1.0, 2.0, 3.0))]
    by_ctx = [defaultdict(dict) for _ in range(order + 1)]
    for k in range(1, order + 1):
        for g, c in counts[k].items():
            by_ctx[k][g[:-1]][g[-1]] = c

    def prob(w, ctx):
        p = 1.0 / V
        for k in range(1, order + 1):
            h = tuple(ctx[len(ctx) - (k - 1):]) if k > 1 else ()
            row = by_ctx[k].get(h)
            if not row:
                continue
            total = sum(row.values())
            c = row.get(w, 0)
            if smoothing == "witten-bell":
                n1p = len(row)
                p = (c + n1p * p) / (total + n1p)
            else:
                D = disc[k]
                gamma = sum(D[min(v, 3)] for v in row.values())
                p = (max(c - D[min(c, 3)], 0) + gamma * p) / total
        return p

    return prob


@pytest.mark.parametrize("smoothing", ["kneser-ney", "witten-bell"])
@pytest.mark.parametrize("order", [1, 2, 3, 5])
def test_matches_the_dictionary_reference(smoothing, order):
    rng = np.random.default_rng(order)
    V = 4
    # a skewed source, so counts of 1, 2, 3 and 4 all occur and discounts are defined
    seqs = [rng.choice(V, size=rng.integers(5, 40), p=[0.5, 0.25, 0.15, 0.1]) for _ in range(60)]
    model = NGramModel(order, V, smoothing).fit(seqs)
    ref = _reference(seqs, order, V, smoothing)
    probe = [rng.choice(V, size=12) for _ in range(3)] + [seqs[0][:10]]
    for s in probe:
        got = model.sequence_distributions(s)
        ctx = [V] * (order - 1) + list(s)
        for t in range(len(s)):
            want = [ref(w, ctx[t:t + order - 1]) for w in range(V)]
            np.testing.assert_allclose(got[t], want, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(got.sum(1), 1.0, atol=1e-12)


def test_unseen_contexts_back_off_and_normalise():
    model = NGramModel(3, 5, "kneser-ney").fit([[0, 1, 2, 3, 0, 1, 2, 3]])
    d = model.distributions(np.array([4 * 6 + 4, 0 * 6 + 1, 3 * 6 + 3]))  # <s><s>, "0 1", "3 3" (unseen)
    np.testing.assert_allclose(d.sum(1), 1.0)
    assert d[1].argmax() == 2  # after 0 1 comes 2
    assert np.all(d > 0)


def test_sampling_follows_the_counts():
    model = NGramModel(2, 3, "witten-bell").fit([[0, 1, 2] * 50])
    s = model.sample(200, 6, rng=0)
    assert s.shape == (200, 6)
    follows = np.mean(s[:, 1:] == (s[:, :-1] + 1) % 3)
    assert follows > 0.9


def test_rejects_bad_input():
    with pytest.raises(ValueError):
        NGramModel(0, 4)
    with pytest.raises(ValueError):
        NGramModel(3, 4, "laplace")
    with pytest.raises(ValueError):
        NGramModel(3, 4).fit([[0, 5]])
