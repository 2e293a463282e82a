"""Classical MDS of token sets without any n×n array (E5 at scale): matrix-free B·V from the
sparse indicator matrix, top-k eigenpairs by restarted block Lanczos, and the positive count and
Σλ₊ either exact (dense, where it fits a memory budget) or by stochastic Lanczos quadrature (SLQ)
with a stated interval.

Algebra. X is the n×V 0/1 indicator of the sets, s the set sizes, G = X Xᵀ, J = I − 11ᵀ/n. The
symmetric difference is D = s1ᵀ + 1sᵀ − 2G and B = −½ J M J with M = D∘D (raw |AΔB|, the paper's)
or M = D (``sqrt``: distances √|AΔB|, then B = J G J, positive semi-definite). For the raw count

    D∘D = s²1ᵀ + 1(s²)ᵀ + 2ssᵀ − 4 diag(s) G − 4 G diag(s) + 4 G∘G,

J kills the u1ᵀ / 1uᵀ terms, and G∘G = G + 2 P Pᵀ with P the n×(pairs) 0/1 indicator of the
token pairs t < u of each set (for 0/1 rows, (x_a·x_b)² = Σ_t + 2 Σ_{t<u}). Pairs of a single set
only touch the diagonal of P Pᵀ: they become a vector ``c1`` and are dropped from P. So

    B W = −½ J [2 s(sᵀW') − 4 s∘(G W') − 4 G(s∘W') + 4 (G W' + 2 P(PᵀW') + 2 c1∘W')],  W' = J W,

costs O((nnz X + nnz P)·b) for b columns (COCO: ≈ 380 pairs per set). tr(B) = 1ᵀM1 / 2n exactly.

Top-k: block Lanczos with full reorthogonalisation and thick restarts (the top Ritz vectors and
their residual block), on torch tensors (CPU or CUDA), until every residual ‖BU − Uθ‖ is below
``tol``·λ1.

Count and Σλ₊ by SLQ (Ubaru, Chen & Saad 2017) on the operator deflated by the top-k axes
(their k positive eigenvalues are exact): Rademacher probes z, m Lanczos steps each (full
reorthogonalisation), Gauss quadrature nodes θ and weights τ. Per probe, zᵀ f(B) z lies between
the Chebyshev–Markov–Stieltjes bounds of the quadrature's distribution function
(F(t) ∈ [Σ_{θ_j < θ_k} τ, Σ_{θ_j ≤ θ_(k+1)} τ] for θ_k ≤ t < θ_(k+1)), for f = step(x − tol) and
for max(x, 0) (∫₀^L (1 − F)). The stochastic error of the probe mean uses the exact zᵀBz and tr(B)
as a control variate; the interval is [mean lower bound − t·se, mean upper bound + t·se] with
Student's t at 95 % over the probes.
"""

from __future__ import annotations

import itertools
import math
import time
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from semspace.experiments import mds as M
from semspace.runtime import log

#: Bytes per n² of the dense path: B in float64, the eigenvalue pass's copy, and a margin.
DENSE_BYTES_PER_ENTRY = 20
DEFAULT_MEMORY_GB = 4.0
DEFAULT_PROBES = 30
DEFAULT_LANCZOS_STEPS = 100
CONFIDENCE = 0.95


# ---------------------------------------------------------------- choice of method


def dense_limit(memory_gb: float) -> int:
    """The largest n whose dense path (B and its eigenvalue pass) fits in ``memory_gb``."""
    return math.isqrt(int(memory_gb * (1 << 30)) // DENSE_BYTES_PER_ENTRY)


def choose_method(n: int, memory_gb: float, method: str = "auto") -> str:
    """``dense-exact`` where n ≤ :func:`dense_limit` (or asked), else ``matrix-free-slq``."""
    if method == "dense":
        return "dense-exact"
    if method == "matrix-free":
        return "matrix-free-slq"
    if method != "auto":
        raise ValueError(f"method must be auto, dense or matrix-free, not {method!r}")
    return "dense-exact" if n <= dense_limit(memory_gb) else "matrix-free-slq"


def resolve_device(device: str) -> str:
    """``cpu``/``cuda``/``auto`` → a torch device name; CUDA asked but absent falls back to the
    CPU with a log line."""
    import torch

    if device not in ("cpu", "cuda", "auto"):
        raise ValueError(f"device must be cpu, cuda or auto, not {device!r}")
    if device == "cpu":
        return "cpu"
    if torch.cuda.is_available():
        return "cuda"
    if device == "cuda":
        log.warning("MDS: --device cuda but torch sees no CUDA device; running on the CPU")
    else:
        log.info("MDS: no CUDA device; running on the CPU")
    return "cpu"


# ---------------------------------------------------------------- the operator


def pair_matrix(X: sp.csr_matrix) -> tuple[sp.csr_matrix, np.ndarray]:
    """P: rows × (token pairs t < u shared by at least two sets), 0/1 float64 CSR; and c1, per
    row, the number of its pairs found in no other set (the diagonal they add to P Pᵀ)."""
    X = sp.csr_matrix(X)
    X.sort_indices()
    n, V = X.shape
    sizes = np.diff(X.indptr)
    rows_parts, code_parts = [], []
    for s in np.unique(sizes):
        if s < 2:
            continue
        members = np.flatnonzero(sizes == s)
        starts = X.indptr[members]
        tokens = X.indices[starts[:, None] + np.arange(s)[None, :]].astype(np.int64)
        iu, ju = np.triu_indices(int(s), 1)
        rows_parts.append(np.repeat(members.astype(np.int32), iu.size))
        code_parts.append((tokens[:, iu] * V + tokens[:, ju]).ravel())
    if not code_parts:
        return sp.csr_matrix((n, 0), dtype=np.float64), np.zeros(n)
    rows = np.concatenate(rows_parts)
    codes = np.concatenate(code_parts)
    del rows_parts, code_parts
    uniq, inverse, counts = np.unique(codes, return_inverse=True, return_counts=True)
    del codes, uniq
    single = counts[inverse] == 1
    c1 = np.bincount(rows[single], minlength=n).astype(np.float64)
    keep = ~single
    shared_cols = np.flatnonzero(counts >= 2)
    remap = np.full(counts.size, -1, dtype=np.int64)
    remap[shared_cols] = np.arange(shared_cols.size)
    cols = remap[inverse[keep]]
    rows = rows[keep]
    P = sp.csr_matrix(
        (np.ones(cols.size), (rows, cols)), shape=(n, shared_cols.size), dtype=np.float64
    )
    return P, c1


def _torch_csr(A: sp.csr_matrix, device: str):
    import torch

    A = sp.csr_matrix(A, dtype=np.float64)
    with warnings.catch_warnings():
        # torch's "sparse CSR support is in beta" notice, once per process: not the user's concern
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        return torch.sparse_csr_tensor(
            torch.from_numpy(A.indptr.astype(np.int64)),
            torch.from_numpy(A.indices.astype(np.int64)),
            torch.from_numpy(A.data),
            size=A.shape,
            dtype=torch.float64,
            device=device,
            check_invariants=False,  # built from a valid scipy CSR; opting out silences the notice
        )


class SetsOperator:
    """B = −½ J M J of the token sets, applied to blocks of vectors (torch, float64)."""

    def __init__(self, X: sp.csr_matrix, sqrt: bool = False, device: str = "cpu") -> None:
        import torch

        start = time.perf_counter()
        X = sp.csr_matrix(X, dtype=np.float64)
        X.sum_duplicates()
        X.data[:] = 1.0
        self.n = X.shape[0]
        self.sqrt = sqrt
        self.device = device
        sizes = np.diff(X.indptr).astype(np.float64)
        self.s = torch.from_numpy(sizes).to(device)
        self.X = _torch_csr(X, device)
        self.Xt = _torch_csr(X.T.tocsr(), device)
        self.P = self.Pt = self.c1 = None
        self.pairs = 0
        if not sqrt:
            P, c1 = pair_matrix(X)
            self.pairs = int(P.nnz)
            self.P = _torch_csr(P, device)
            self.Pt = _torch_csr(P.T.tocsr(), device)
            self.c1 = torch.from_numpy(c1).to(device)
        self.applications = 0
        self.columns_applied = 0
        self._torch = torch
        log.info(
            "MDS operator: n=%d, vocabulary %d, nnz X %d, shared pairs nnz %d (%s) in %.1f s",
            self.n,
            X.shape[1],
            X.nnz,
            self.pairs,
            device,
            time.perf_counter() - start,
        )

    def _G(self, W):
        return self.X @ (self.Xt @ W)

    def matmat(self, W):
        """B W for an n×b float64 tensor W on this operator's device."""
        self.applications += 1
        self.columns_applied += W.shape[1]
        Wc = W - W.mean(dim=0, keepdim=True)
        if self.sqrt:
            out = self._G(Wc)
        else:
            s = self.s[:, None]
            b = Wc.shape[1]
            # G W' and G (s∘W') in one pass over X.
            GG = self._G(self._torch.cat([Wc, s * Wc], dim=1))
            GW, GsW = GG[:, :b], GG[:, b:]
            HW = GW + 2.0 * (self.P @ (self.Pt @ Wc)) + 2.0 * self.c1[:, None] * Wc
            out = -(s @ (self.s[None, :] @ Wc)) + 2.0 * s * GW + 2.0 * GsW - 2.0 * HW
        return out - out.mean(dim=0, keepdim=True)

    def trace(self) -> float:
        """tr(B) = 1ᵀ M 1 / 2n, exactly (from M·1)."""
        if self.n == 0:
            return 0.0
        torch = self._torch
        one = torch.ones((self.n, 1), dtype=torch.float64, device=self.device)
        s = self.s[:, None]
        G1 = self._G(one)
        if self.sqrt:
            M1 = self.n * s + s.sum() - 2.0 * G1
        else:
            Gs = self._G(s)
            H1 = G1 + 2.0 * (self.P @ (self.Pt @ one)) + 2.0 * self.c1[:, None]
            M1 = (
                self.n * s**2
                + (s**2).sum()
                + 2.0 * s * s.sum()
                - 4.0 * s * G1
                - 4.0 * Gs
                + 4.0 * H1
            )
        return float(M1.sum()) / (2.0 * self.n)


# ---------------------------------------------------------------- top-k eigenpairs


def _orthonormalise(W, basis: list, rng_gen, drop_tol: float = 1e-10):
    """W made orthogonal to every block in ``basis`` (two passes of classical Gram–Schmidt) and
    orthonormal; columns that vanish (an invariant subspace) are dropped."""
    torch = __import__("torch")
    norms0 = torch.linalg.vector_norm(W, dim=0).clamp_min(1e-300)
    for _ in range(2):
        for Q in basis:
            W = W - Q @ (Q.T @ W)
    keep = torch.linalg.vector_norm(W, dim=0) > drop_tol * norms0
    W = W[:, keep]
    if W.shape[1] == 0:
        return W
    Q, R = torch.linalg.qr(W)
    good = torch.abs(torch.diagonal(R)) > drop_tol * torch.abs(R).max()
    return Q[:, good]


def _sign_fix(vecs: np.ndarray) -> np.ndarray:
    idx = np.argmax(np.abs(vecs), axis=0)
    signs = np.sign(vecs[idx, np.arange(vecs.shape[1])])
    signs[signs == 0] = 1
    return vecs * signs


def block_lanczos_top(
    op: SetsOperator,
    k: int,
    block: int | None = None,
    max_basis: int | None = None,
    tol: float = 1e-9,
    max_restarts: int = 300,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """The k largest eigenvalues (descending) and unit eigenvectors of ``op`` (thick-restarted
    block Lanczos, full reorthogonalisation), and what it took."""
    torch = op._torch
    n = op.n
    k = min(k, max(n - 1, 0))
    if k == 0:
        return np.zeros(0), np.zeros((n, 0)), {"restarts": 0}
    b = block or min(n - 1, max(k + 4, 2 * k))
    m = max_basis or min(n - 1, max(6 * b, 8 * k))
    gen = torch.Generator(device="cpu").manual_seed(seed)
    start_block = torch.randn((n, b), generator=gen, dtype=torch.float64).to(op.device)
    start_block -= start_block.mean(dim=0, keepdim=True)  # B·1 = 0: work in 1⊥
    Qs = [_orthonormalise(start_block, [], gen)]
    AQs = [op.matmat(Qs[0])]
    t0 = time.perf_counter()
    for restart in range(max_restarts + 1):
        while sum(q.shape[1] for q in Qs) < m:
            W = _orthonormalise(AQs[-1], Qs, gen)
            if W.shape[1] == 0:
                break  # invariant subspace: the Ritz pairs below are exact
            W = W[:, : m - sum(q.shape[1] for q in Qs)]
            Qs.append(W)
            AQs.append(op.matmat(W))
        Q = torch.cat(Qs, dim=1)
        AQ = torch.cat(AQs, dim=1)
        H = Q.T @ AQ
        H = (H + H.T) / 2
        theta, Y = torch.linalg.eigh(H)
        keep = min(b, theta.shape[0])
        theta, Y = theta.flip(0)[:keep], Y.flip(1)[:, :keep]
        U, AU = Q @ Y, AQ @ Y
        resid = torch.linalg.vector_norm(AU - U * theta[None, :], dim=0)
        scale = float(torch.abs(theta).max()) or 1.0
        worst = float(resid[:k].max()) / scale
        exhausted = Q.shape[1] >= n - 1
        if worst <= tol or exhausted:
            break
        Qs, AQs = [U], [AU]
    else:
        log.warning("block Lanczos: residual %.1e after %d restarts", worst, max_restarts)
    info = {
        "restarts": restart,
        "block": b,
        "basis": m,
        "relative_residual": worst,
        "applications": op.applications,
        "seconds": time.perf_counter() - t0,
    }
    vals = theta[:k].cpu().numpy()
    vecs = _sign_fix(U[:, :k].cpu().numpy())
    return vals, vecs, info


# ---------------------------------------------------------------- stochastic Lanczos quadrature


def _cms_bounds(theta: np.ndarray, tau: np.ndarray, t: float) -> tuple[float, float]:
    """Bounds on F(t) = μ((−∞, t]) of the measure whose Gauss rule is (θ ascending, τ)."""
    G = np.concatenate([[0.0], np.cumsum(tau)])  # G[j] = Σ_{i<j} τ_i (0-based nodes)
    k = int(np.searchsorted(theta, t, side="right"))  # nodes ≤ t: θ_0..θ_{k−1}
    lower = G[max(k - 1, 0)]
    upper = G[min(k + 1, theta.size)]
    return float(lower), float(min(upper, 1.0))


def _positive_part_bounds(
    theta: np.ndarray, tau: np.ndarray, top: float
) -> tuple[float, float, float]:
    """∫ max(x, 0) dμ: the Gauss estimate and bounds ∫₀^top (1 − F) with F between its CMS
    bounds (``top`` ≥ the measure's largest support point)."""
    estimate = float((tau * np.clip(theta, 0, None)).sum())
    G = np.concatenate([[0.0], np.cumsum(tau)])
    m = theta.size
    # Breakpoints: 0, the nodes in (0, top), top. On [x_k, x_{k+1}) F ∈ [G_{k−1}, G_{k+1}].
    inside = theta[(theta > 0) & (theta < top)]
    edges = np.concatenate([[0.0], inside, [top]])
    lo = hi = 0.0
    for a, c in itertools.pairwise(edges):
        if c <= a:
            continue
        k = int(np.searchsorted(theta, a, side="right"))  # nodes ≤ a
        f_lo = G[max(k - 1, 0)]
        f_hi = min(G[min(k + 1, m)], 1.0)
        lo += (c - a) * (1.0 - f_hi)
        hi += (c - a) * (1.0 - f_lo)
    return estimate, lo, hi


def lanczos_quadrature(
    matmat, Z, steps: int
) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray]:
    """m-step Lanczos (full reorthogonalisation) from each column of Z at once: per probe the
    Gauss nodes θ (ascending) and weights τ of its spectral measure, and zᵀAz exactly."""
    torch = __import__("torch")
    n, p = Z.shape
    steps = max(1, min(steps, n))
    norms = torch.linalg.vector_norm(Z, dim=0)
    q = Z / norms
    # One contiguous n-vector per probe and step, so that the reorthogonalisation is a batch of
    # matrix-vector products (bmm) over each probe's own basis.
    Qs = torch.zeros((p, steps, n), dtype=Z.dtype, device=Z.device)
    alpha = torch.zeros((steps, p), dtype=Z.dtype, device=Z.device)
    beta = torch.zeros((steps, p), dtype=Z.dtype, device=Z.device)
    active = torch.ones(p, dtype=torch.bool, device=Z.device)
    length = torch.full((p,), steps, dtype=torch.int64, device=Z.device)
    for j in range(steps):
        Qs[:, j, :] = q.T
        w = matmat(q)
        alpha[j] = (q * w).sum(dim=0)
        basis = Qs[:, : j + 1, :]  # (p, j+1, n)
        wt = w.T.contiguous().unsqueeze(2)  # (p, n, 1)
        for _ in range(2):  # full reorthogonalisation against this probe's own vectors
            wt = wt - torch.bmm(basis.transpose(1, 2), torch.bmm(basis, wt))
        w = wt.squeeze(2).T
        b = torch.linalg.vector_norm(w, dim=0)
        if j == steps - 1:
            break
        scale = torch.abs(alpha[: j + 1]).amax(dim=0).clamp_min(1e-300)
        ended = active & (b <= 1e-12 * scale)
        length[ended] = j + 1
        active &= ~ended
        beta[j] = torch.where(active, b, torch.zeros_like(b))
        q = torch.where(active[None, :], w / b.clamp_min(1e-300)[None, :], torch.zeros_like(w))
        if not bool(active.any()):
            break
    alpha, beta, length = alpha.cpu().numpy(), beta.cpu().numpy(), length.cpu().numpy()
    nodes, weights = [], []
    for i in range(p):
        m = int(length[i])
        T = np.diag(alpha[:m, i]) + np.diag(beta[: m - 1, i], 1) + np.diag(beta[: m - 1, i], -1)
        theta, Y = np.linalg.eigh(T)
        nodes.append(theta)
        weights.append(Y[0] ** 2)
    quad = alpha[0] * (norms.cpu().numpy() ** 2)
    return nodes, weights, quad


def _student_t(confidence: float, dof: int) -> float:
    from scipy import stats

    return float(stats.t.ppf(0.5 + confidence / 2, max(dof, 1)))


def _control_variate(values: np.ndarray, control: np.ndarray, expected: float):
    """(coefficient, adjusted per-probe values, standard error of their mean)."""
    p = values.size
    c = 0.0
    if p >= 3 and np.var(control) > 0:
        c = float(np.cov(values, control)[0, 1] / np.var(control, ddof=1))
    adjusted = values - c * (control - expected)
    dof = p - (2 if c else 1)
    se = float(np.sqrt(((adjusted - adjusted.mean()) ** 2).sum() / max(dof, 1) / p))
    return c, adjusted, se, dof


@dataclass
class SLQEstimate:
    n_positive: float
    n_positive_ci: tuple[float, float]
    positive_sum: float
    positive_sum_ci: tuple[float, float]
    probes: int
    steps: int
    seed: int
    confidence: float
    trace_exact: float
    trace_estimate: float
    per_probe: dict[str, list[float]] = field(default_factory=dict, repr=False)


def slq_positive(
    op: SetsOperator,
    tol: float,
    top_vals: np.ndarray,
    top_vecs: np.ndarray,
    probes: int = DEFAULT_PROBES,
    steps: int = DEFAULT_LANCZOS_STEPS,
    seed: int = 0,
    memory_gb: float = DEFAULT_MEMORY_GB,
    confidence: float = CONFIDENCE,
) -> SLQEstimate:
    """Positive count and Σλ₊ of ``op`` by SLQ on the operator deflated by the (exact) top
    eigenpairs, with intervals (see the module doc)."""
    torch = op._torch
    n = op.n
    U = torch.from_numpy(np.ascontiguousarray(top_vecs)).to(op.device)
    kept = top_vals > tol
    if not kept.all():  # only the positive top axes are deflated (count and sum exact there)
        U = U[:, torch.from_numpy(kept).to(op.device)]
    k_pos = int(kept.sum())
    top_pos_sum = float(top_vals[kept].sum())

    def deflated(W):
        W = W - U @ (U.T @ W)
        out = op.matmat(W)
        return out - U @ (U.T @ out)

    trace_B = op.trace()
    trace_A = trace_B - top_pos_sum
    # The deflated spectrum lies below λ_(k+1) ≤ the smallest top value (with a margin).
    top_bound = float(top_vals.min()) * (1 + 1e-6) if top_vals.size else float("inf")
    if not math.isfinite(top_bound) or top_bound <= 0:
        top_bound = abs(trace_B) + 1.0
    bytes_per_probe = 8 * n * (steps + 8)
    batch = max(1, min(probes, int(memory_gb * (1 << 30) * 0.5) // max(bytes_per_probe, 1)))
    gen = torch.Generator(device="cpu").manual_seed(seed)
    counts, count_lo, count_hi = [], [], []
    sums, sum_lo, sum_hi, quads = [], [], [], []
    start = time.perf_counter()
    done = 0
    while done < probes:
        p = min(batch, probes - done)
        Z = (torch.randint(0, 2, (n, p), generator=gen, dtype=torch.int8) * 2 - 1).to(
            dtype=torch.float64, device=op.device
        )
        nodes, weights, quad = lanczos_quadrature(deflated, Z, steps)
        for theta, tau, zz in zip(nodes, weights, quad):
            norm2 = float(n)  # Rademacher: ‖z‖² = n
            f_lo, f_hi = _cms_bounds(theta, tau, tol)
            counts.append(norm2 * float(tau[theta > tol].sum()))
            count_lo.append(norm2 * (1.0 - f_hi))
            count_hi.append(norm2 * (1.0 - f_lo))
            est, lo, hi = _positive_part_bounds(theta, tau, top_bound)
            sums.append(norm2 * est)
            sum_lo.append(norm2 * lo)
            sum_hi.append(norm2 * hi)
            quads.append(float(zz))
        done += p
        log.info(
            "SLQ: %d/%d probes, %d Lanczos steps, %.1f s",
            done,
            probes,
            steps,
            time.perf_counter() - start,
        )
    quads_a = np.array(quads)

    def interval(values: list[float], lower: list[float], upper: list[float]):
        raw = np.array(values)
        _, adjusted, se, dof = _control_variate(raw, quads_a, trace_A)
        delta = adjusted - raw  # the control variate shifts each probe's bounds alike
        t = _student_t(confidence, dof)
        lo = float(np.mean(np.array(lower) + delta)) - t * se
        hi = float(np.mean(np.array(upper) + delta)) + t * se
        return float(adjusted.mean()), lo, hi

    count_est, c_lo, c_hi = interval(counts, count_lo, count_hi)
    sum_est, s_lo, s_hi = interval(sums, sum_lo, sum_hi)
    max_count = n - 1 - k_pos  # B·1 = 0: at most n − 1 positive eigenvalues
    c_lo, c_hi = max(c_lo, 0.0), min(c_hi, float(max_count))
    count_est = min(max(count_est, 0.0), float(max_count))
    s_lo = max(s_lo, 0.0)
    sum_est = max(sum_est, 0.0)
    return SLQEstimate(
        n_positive=k_pos + count_est,
        n_positive_ci=(k_pos + c_lo, k_pos + c_hi),
        positive_sum=top_pos_sum + sum_est,
        positive_sum_ci=(top_pos_sum + s_lo, top_pos_sum + s_hi),
        probes=probes,
        steps=steps,
        seed=seed,
        confidence=confidence,
        trace_exact=trace_B,
        trace_estimate=top_pos_sum + float(np.mean(quads_a)),
        per_probe={"count": counts, "sum": sums, "quad": quads},
    )


# ---------------------------------------------------------------- the stage


def dense_B(X: sp.csr_matrix, sqrt: bool = False, memory_gb: float = 1.0) -> np.ndarray:
    """B = −½ J M J of the sets as one dense float64 array, built from row blocks of X Xᵀ
    (``setdist.Intersections``): the dense-exact path's only n×n array."""
    from semspace.experiments.setdist import Intersections, default_block_rows, iter_blocks

    engine = Intersections(X)
    n = engine.n
    s = engine.sizes.astype(np.float64)
    B = np.empty((n, n), dtype=np.float64)
    for start, stop in iter_blocks(n, default_block_rows(n, int(memory_gb * (1 << 28)))):
        block = B[start:stop]
        block[:] = engine.block(start, stop, np.float32)
        block *= -2.0
        block += s[start:stop, None]
        block += s[None, :]  # |A Δ B|
        if not sqrt:
            np.multiply(block, block, out=block)
    return M.centre_in_place(B)


@dataclass
class SetsMDSResult:
    result: M.MDSResult
    method: str
    details: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        out = M.eigen_summary(self.result)
        out["method"] = self.method
        out.update(self.details)
        return out


def mds_from_sets(
    X: sp.csr_matrix,
    k: int = 10,
    sqrt: bool = False,
    share: bool = True,
    method: str = "auto",
    memory_gb: float = DEFAULT_MEMORY_GB,
    device: str = "auto",
    probes: int = DEFAULT_PROBES,
    steps: int = DEFAULT_LANCZOS_STEPS,
    seed: int = 0,
) -> SetsMDSResult:
    """Classical MDS of the rows of the indicator matrix X: dense-exact where n fits the memory
    budget (or asked), else matrix-free with the count and Σλ₊ estimated by SLQ."""
    n = X.shape[0]
    chosen = choose_method(n, memory_gb, method)
    dev = resolve_device(device)
    limit = dense_limit(memory_gb)
    log.info(
        "MDS of %d sets: %s (dense limit %d at %.1f GB), device %s",
        n,
        chosen,
        limit,
        memory_gb,
        dev,
    )
    details: dict[str, Any] = {"memory_gb": memory_gb, "dense_limit": limit, "device": dev}
    if chosen == "dense-exact":
        B = dense_B(X, sqrt=sqrt, memory_gb=min(memory_gb, 1.0))
        result = M.mds_of_centred(B, k=k, sqrt=sqrt, share=share, seed=seed, device=dev)
        return SetsMDSResult(result, chosen, details)
    start = time.perf_counter()
    op = SetsOperator(X, sqrt=sqrt, device=dev)
    vals, vecs, info = block_lanczos_top(op, max(k, 2), seed=seed)
    tol = M.positive_tolerance(n, float(vals[0]) if vals.size else 0.0)
    log.info(
        "MDS matrix-free: top-%d in %.1f s (%d restarts, %d block products, residual %.1e)",
        vals.size,
        info["seconds"],
        info["restarts"],
        info["applications"],
        info["relative_residual"],
    )
    details["lanczos_top"] = {
        key: info[key] for key in ("restarts", "block", "basis", "relative_residual")
    }
    details["trace"] = op.trace()
    result = M.MDSResult(
        n=n,
        n_positive=int((vals > tol).sum()),
        n_negative=0,
        tol=tol,
        eigenvalues=vals[:k],
        vectors=vecs[:, :k],
        sqrt=sqrt,
    )
    est = slq_positive(
        op, tol, vals, vecs, probes=probes, steps=steps, seed=seed, memory_gb=memory_gb
    )
    result.n_positive = round(est.n_positive)
    result.n_negative = n - result.n_positive
    lo, hi = est.n_positive_ci
    details["n_positive_ci"] = [math.floor(lo), math.ceil(hi)]
    details["slq"] = {
        "probes": est.probes,
        "lanczos_steps": est.steps,
        "seed": est.seed,
        "confidence": est.confidence,
        "probe": "rademacher",
        "deflated_axes": int((vals > tol).sum()),
        "trace_estimate": est.trace_estimate,
    }
    if share:
        result.positive_sum = est.positive_sum
        top2 = float(np.clip(vals[:2], 0, None).sum())
        s_lo, s_hi = est.positive_sum_ci
        details["positive_sum_ci"] = [s_lo, s_hi]
        details["top2_share_ci"] = [top2 / s_hi, top2 / s_lo if s_lo > 0 else None]
    details["seconds"] = time.perf_counter() - start
    return SetsMDSResult(result, chosen, details)
