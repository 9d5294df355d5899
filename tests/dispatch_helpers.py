"""Shared by the model tests: a dispatch mode that records which aten / custom ops run."""
from torch.utils._python_dispatch import TorchDispatchMode


class CallCounter(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.calls: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.calls.append(str(func.overloadpacket))
        return func(*args, **(kwargs or {}))
