"""Type stub of the compiled kernels. Use pyrnn.engine, which validates and names results."""

from typing import Optional

import numpy as np

class Workspace:
    """The buffer a training forward keeps for BPTT; consumed (atomically) by one backward."""
    @property
    def nbytes(self) -> int: ...
    @property
    def consumed(self) -> bool: ...

# nthreads: 0 for the default (set_num_threads, then the OpenMP runtime's setting at call time)
def forward(
    cell: str,
    nonlinearity: str,
    reset_after: bool,
    reverse: bool,
    x: np.ndarray,
    weight_ih: np.ndarray,
    weight_hh: np.ndarray,
    bias_ih: Optional[np.ndarray],
    bias_hh: Optional[np.ndarray],
    lengths: Optional[np.ndarray],
    h0: Optional[np.ndarray],
    c0: Optional[np.ndarray],
    training: bool,
    packed: Optional[np.ndarray] = None,
    reuse: Optional[Workspace] = None,
    outputs: bool = True,
    nthreads: int = 0,
) -> tuple[Optional[np.ndarray], np.ndarray, Optional[np.ndarray], Optional[Workspace]]: ...
def pack(
    cell: str,
    nonlinearity: str,
    reset_after: bool,
    weight_ih: np.ndarray,
    weight_hh: np.ndarray,
    bias_ih: Optional[np.ndarray],
    bias_hh: Optional[np.ndarray],
) -> np.ndarray: ...

# A call of a group: the tuple of forward's (backward's) positional arguments, nthreads left out.
def forward_group(calls: list[tuple], chained: bool, nthreads: int = 0) -> list[tuple]: ...
def backward(
    cell: str,
    nonlinearity: str,
    reset_after: bool,
    reverse: bool,
    x: np.ndarray,
    weight_ih: np.ndarray,
    weight_hh: np.ndarray,
    lengths: Optional[np.ndarray],
    workspace: Workspace,
    dy: Optional[np.ndarray],
    dh_n: Optional[np.ndarray],
    dc_n: Optional[np.ndarray],
    has_bias: bool,
    input_grad: bool = True,
    grads: Optional[tuple] = None,
    nthreads: int = 0,
) -> tuple: ...
def backward_group(calls: list[tuple], chained: bool = False, nthreads: int = 0) -> list[tuple]: ...
def gemm(A: np.ndarray, B: np.ndarray, nthreads: int = 0) -> np.ndarray: ...
def activation(name: str, x: np.ndarray) -> np.ndarray: ...
def fma_peak_gflops(nthreads: int) -> float: ...
def set_num_threads(n: Optional[int]) -> None: ...
def get_num_threads(requested: int = 0) -> int: ...
def max_threads() -> int: ...
def workspace_size(cell: str, reset_after: bool, T: int, B: int, I: int, H: int) -> int: ...
def available_memory() -> int: ...
def check_memory(nbytes: int, what: str) -> None: ...
def config() -> dict: ...
def plan(
    cell: str,
    nonlinearity: str,
    T: int,
    B: int,
    I: int,
    H: int,
    nthreads: int,
    itemsize: int,
    busy_cores: float = -1.0,
    cpus: int = -1,
) -> dict: ...
def conv1d_forward(
    x: np.ndarray,
    weight: np.ndarray,
    bias: Optional[np.ndarray],
    lengths: Optional[np.ndarray],
    stride: int,
    dilation: int,
    padding: int,
    pool: int,
    relu: bool,
    training: bool,
) -> tuple[np.ndarray, Optional[np.ndarray]]: ...
def conv1d_backward(
    x: np.ndarray,
    weight: np.ndarray,
    lengths: Optional[np.ndarray],
    stride: int,
    dilation: int,
    padding: int,
    pool: int,
    relu: bool,
    workspace: np.ndarray,
    dy: np.ndarray,
    has_bias: bool,
    input_grad: bool = True,
) -> tuple[Optional[np.ndarray], np.ndarray, Optional[np.ndarray]]: ...
