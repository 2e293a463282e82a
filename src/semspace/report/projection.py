"""2-D projections of embeddings for the maps of E2 and E4: one UMAP set-up for both."""

from __future__ import annotations

import numpy as np


def umap_2d(
    features: np.ndarray, n_neighbors: int = 15, min_dist: float = 0.1, seed: int = 0
) -> np.ndarray:
    """2-D UMAP (cosine metric, seeded) of the rows of ``features``, float32 (n × 2).

    ``n_neighbors`` is capped at ``len(features) - 1`` (and at least 2), so small sets work.
    """
    import umap

    n_neighbors = max(2, min(n_neighbors, len(features) - 1))
    reducer = umap.UMAP(
        n_components=2,
        n_neighbors=n_neighbors,
        min_dist=min_dist,
        metric="cosine",
        random_state=seed,
        n_jobs=1,  # a fixed random_state runs single-threaded anyway; say so to silence the warning
    )
    return np.asarray(reducer.fit_transform(features), dtype=np.float32)
