"""Pure numeric kernels (Numba): synthesizers, feature extraction, resampling.

Nothing in here touches threads, devices or files, and nothing imports the rest of tonehost.
Per-block kernels are ``@njit(nogil=True, cache=True)`` and write into caller-owned arrays.
"""
