"""Kept so test modules written against ``tests.servers`` keep working: the helpers live in the
top-level ``loopback`` package, which bench/ uses too (bench never imports from tests/)."""

from loopback import free_port, moto_running, moto_start, port_open, redis_running, redis_start, stop, wait_until

__all__ = [
    "free_port",
    "moto_running",
    "moto_start",
    "port_open",
    "redis_running",
    "redis_start",
    "stop",
    "wait_until",
]
