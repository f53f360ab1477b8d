"""Picks the transport named by the profile; the only place that knows the implementations."""

from __future__ import annotations

from ..config import TransportConfig
from .base import Transport


def make_transport(config: TransportConfig) -> Transport:
    if config.kind == "dds":
        from .dds import DdsTransport  # imported here so the core never loads cyclonedds itself

        return DdsTransport(config.domain_id)
    raise ValueError(f"transport.kind={config.kind!r} is not available")  # pragma: no cover - config admits only dds
