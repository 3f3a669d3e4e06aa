"""Stream stores: where answers' events live, so that any reader can follow
or resume any stream (see ``base`` for the contract)."""

from .base import Event, SlowReader, StreamNotFound, StreamStore, Subscription
from .memory import MemoryStore

__all__ = ["Event", "MemoryStore", "SlowReader", "StreamNotFound", "StreamStore", "Subscription"]
