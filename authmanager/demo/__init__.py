"""``authmanager demo``: the whole handshake in one process, printed step by step, and the traced
runs the sequence diagrams in docs/sequence/ are generated from."""

from .run import run_demo

__all__ = ["run_demo"]
