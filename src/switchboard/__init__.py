"""Switchboard: self-hosted call placement serving the VCC V0 call API."""

__version__ = "0.1.0"
