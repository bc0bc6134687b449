"""An accelerator emulated on the CPU, to test device handling on a machine without a GPU.

On a GPU, a tensor made without ``device=`` lands on the CPU (torch's default device), and an op
that mixes it with GPU tensors fails, as does ``.numpy()`` of a GPU tensor. Inside
:class:`EmulatedAccelerator` the same code paths fail on the CPU. A tensor is *on the device* when
it was put there: moved with ``.to(device)`` (``Split.to``, ``Method.to``, ``module.to``), made with
an explicit ``device=`` (``device=x.device``), or computed from tensors on the device. Everything
else is *on the host*: what existed before the block (caches, data as loaded), what is made
without a device (``torch.randn(n)``, ``torch.tensor(v)``, ``torch.from_numpy(a)``, a new module's
parameters) or moved with ``.cpu()``, and whatever is computed from host tensors only. An op that
mixes a host tensor of one or more dimensions with a device tensor raises :class:`DeviceMismatch`,
as CUDA does (host scalars, 0-dim, are allowed, as CUDA allows them, and so is indexing a device
tensor with host indices); ``.numpy()`` of a device tensor raises as well.

The emulation cannot tell ``device="cpu"`` written in the code from the caller's device (both are
the CPU here): code that means the host must say ``.cpu()``.
"""

from __future__ import annotations

import weakref

import torch
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_flatten

#: Functions that make a tensor from sizes or Python data (on torch's default device without ``device=``).
FACTORIES = frozenset({
    torch.tensor, torch.as_tensor, torch.zeros, torch.ones, torch.empty, torch.full,
    torch.rand, torch.randn, torch.randint, torch.randperm, torch.arange, torch.linspace,
    torch.logspace, torch.eye, torch.normal, torch.scalar_tensor,
})
#: Ops that may take host tensors beside device ones (CUDA copies or indexes across devices).
CROSS_DEVICE = frozenset({
    torch.Tensor.__getitem__, torch.Tensor.__setitem__, torch.Tensor.copy_, torch.Tensor.to,
    torch.Tensor.cpu, torch.Tensor.numpy, torch.Tensor.item, torch.Tensor.tolist,
})
_MOVES = frozenset({torch.Tensor.to, torch.Tensor.cuda})


class DeviceMismatch(RuntimeError):
    """An op mixed a tensor on the host (torch's default device) with tensors on the caller's device."""


def _tensors(args, kwargs) -> list[torch.Tensor]:
    leaves, _ = tree_flatten((args, kwargs))
    return [t for t in leaves if isinstance(t, torch.Tensor)]


def _moves_to_a_device(args, kwargs) -> bool:
    """``t.to(device)`` / ``t.to(other)`` (not a dtype-only ``.to``)."""
    if "device" in kwargs:
        return True
    return any(isinstance(a, (torch.device, str, torch.Tensor)) for a in args[1:])


class EmulatedAccelerator(TorchFunctionMode):
    """Fail, on the CPU, where code would fail on a GPU (see the module docstring)."""

    def __init__(self):
        super().__init__()
        #: id -> weak reference of each tensor on the device (tensors compare elementwise: no WeakSet).
        self.device: dict[int, weakref.ref] = {}

    def __enter__(self):
        """Also see what torch's function modes do not: a new ``nn.Parameter`` is where its data is."""
        self._new_parameter = new_parameter = torch.nn.Parameter.__new__

        def parameter_like_its_data(cls, data=None, requires_grad=True):
            parameter = new_parameter(cls, data, requires_grad)
            return self._mark(parameter, data is not None and self.on_device(data))

        torch.nn.Parameter.__new__ = parameter_like_its_data
        return super().__enter__()

    def __exit__(self, *exc):
        torch.nn.Parameter.__new__ = self._new_parameter
        return super().__exit__(*exc)

    def _mark(self, t: torch.Tensor, on_device: bool) -> torch.Tensor:
        if on_device:
            self.device[id(t)] = weakref.ref(t)
        else:
            self.device.pop(id(t), None)
        return t

    def on_device(self, t: torch.Tensor) -> bool:
        """Whether ``t`` counts as on the device (else on the host)."""
        ref = self.device.get(id(t))
        return ref is not None and ref() is t

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        inputs = _tensors(args, kwargs)
        if func is torch.Tensor.numpy and self.on_device(args[0]):
            raise DeviceMismatch("numpy() of a tensor on the device (GPU tensors need .cpu() first)")
        placed = [self.on_device(t) for t in inputs]
        if func not in CROSS_DEVICE and any(placed):
            host = [t for t, on in zip(inputs, placed) if not on and t.dim() > 0]
            if host:
                shapes = ", ".join(str(tuple(t.shape)) for t in host)
                raise DeviceMismatch(f"{getattr(func, '__name__', func)} mixes host tensors ({shapes}: made "
                                     "without device=, or never moved) with tensors on the device")
        out = func(*args, **kwargs)
        if func is torch.Tensor.cpu and out is args[0]:  # on the CPU .cpu() is the tensor itself
            out = out.view_as(out)
        if func in FACTORIES and not inputs:  # from sizes or Python / NumPy data
            on_device = kwargs.get("device") is not None
        elif func is torch.Tensor.cpu:
            on_device = False
        elif func in _MOVES and _moves_to_a_device(args, kwargs):
            target = next((a for a in args[1:] if isinstance(a, torch.Tensor)), None)
            on_device = target is None or self.on_device(target)
        elif func in CROSS_DEVICE:
            on_device = bool(placed) and placed[0]
        else:
            on_device = any(placed)
        for t in tree_flatten(out)[0]:
            if isinstance(t, torch.Tensor):
                self._mark(t, on_device)
        return out
