"""Tiny PyTorch models saved in every form tensorgate reads (tests only; imports torch)."""

from __future__ import annotations

import inspect
import warnings
from pathlib import Path

import numpy as np
import torch


class Net(torch.nn.Module):
    """A small CNN: conv, ReLU, global average pool, linear (10 classes)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3)
        self.fc = torch.nn.Linear(8, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.fc(torch.relu(self.conv(x)).mean((2, 3)))
        return out


#: The same class as a file of its own, for ``tensorgate convert net.py:Net``.
NET_SOURCE = "import torch\n\n\n" + inspect.getsource(Net)


def write_net_source(directory: Path) -> Path:
    """``directory/net.py`` defining ``Net``; returns its path."""
    path = directory / "net.py"
    path.write_text(NET_SOURCE)
    return path


def build_net(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return Net().eval()


def save_torchscript(net: torch.nn.Module, path: Path) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torch 2.13 deprecates TorchScript
        torch.jit.script(net).save(str(path))
    return path


def save_program(net: torch.nn.Module, path: Path, *, dynamic: bool = True) -> Path:
    sample = torch.randn(2, 3, 16, 16)
    shapes = ({0: torch.export.Dim("batch", max=64)},) if dynamic else None
    program = torch.export.export(net, (sample,), dynamic_shapes=shapes)
    torch.export.save(program, str(path))
    return path


def eager(net: torch.nn.Module, x: np.ndarray) -> np.ndarray:
    with torch.inference_mode():
        out: np.ndarray = net(torch.from_numpy(x)).numpy()
        return out
