"""Devices (CPU, CUDA, Intel Gaudi HPU), mixed precision and torch.distributed (DDP via torchrun)."""

from __future__ import annotations

import contextlib
import os

import torch

from ..errors import MedRouteError


class DeviceUnavailableError(MedRouteError):
    """The requested training device is not available on this machine."""


def _hpu_available() -> bool:
    try:
        import habana_frameworks.torch.core  # noqa: F401
    except Exception:
        return False
    return True


def resolve_device(name: str = "auto") -> str:
    """'auto' -> hpu if the Gaudi stack is installed, else cuda if a GPU is visible, else cpu."""
    name = (name or "auto").lower()
    if name == "auto":
        if _hpu_available():
            return "hpu"
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "hpu":
        if not _hpu_available():
            raise DeviceUnavailableError(
                "Training on Intel Gaudi (--device hpu) needs the Intel Gaudi software stack: install the "
                "habana-torch-plugin (habana_frameworks.torch) that matches your SynapseAI release, or use "
                "--device cpu or --device cuda.")
        return "hpu"
    if name == "cuda":
        if not torch.cuda.is_available():
            raise DeviceUnavailableError(
                "Training on an NVIDIA GPU (--device cuda) needs a CUDA build of PyTorch and a visible GPU; "
                "none was found, so use --device cpu.")
        return "cuda"
    if name == "cpu":
        return "cpu"
    raise DeviceUnavailableError(f"Unknown device {name!r}; choose auto, cpu, cuda or hpu.")


def mark_step(device: str) -> None:
    """Gaudi lazy mode: execute the accumulated graph (after backward and after optimizer.step())."""
    if device == "hpu":
        import habana_frameworks.torch.core as htcore

        htcore.mark_step()


def autocast(device: str, enabled: bool = True):
    """bf16 autocast on CPU and Gaudi, fp16 AMP on CUDA."""
    if not enabled:
        return contextlib.nullcontext()
    dtype = torch.float16 if device == "cuda" else torch.bfloat16
    return torch.autocast(device_type=device, dtype=dtype)


def grad_scaler(device: str, enabled: bool = True):
    return torch.amp.GradScaler("cuda", enabled=enabled and device == "cuda")


class Dist:
    """torch.distributed state: single process unless started by torchrun (WORLD_SIZE > 1)."""

    def __init__(self, device: str):
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        self.device = device
        if self.world > 1 and not torch.distributed.is_initialized():
            backend = {"cpu": "gloo", "cuda": "nccl", "hpu": "hccl"}[device]
            if device == "hpu":
                import habana_frameworks.torch.distributed.hccl  # noqa: F401
            if device == "cuda":
                torch.cuda.set_device(self.local_rank)
            torch.distributed.init_process_group(backend=backend)

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def torch_device(self) -> torch.device:
        if self.device == "cuda":
            return torch.device("cuda", self.local_rank)
        return torch.device(self.device)

    def wrap(self, model: torch.nn.Module) -> torch.nn.Module:
        if self.world <= 1:
            return model
        from torch.nn.parallel import DistributedDataParallel as DDP

        ids = [self.local_rank] if self.device == "cuda" else None
        return DDP(model, device_ids=ids)

    def barrier(self) -> None:
        if self.world > 1:
            torch.distributed.barrier()

    def all_mean(self, value: float) -> float:
        if self.world <= 1:
            return value
        t = torch.tensor([value], dtype=torch.float64)
        torch.distributed.all_reduce(t)
        return float(t.item()) / self.world

    def close(self) -> None:
        if self.world > 1 and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()
