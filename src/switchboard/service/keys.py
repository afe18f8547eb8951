"""The access-token signing keys, for the operator (``switchboard keys rotate``)."""

from __future__ import annotations

from switchboard.domain.errors import ProvisioningError
from switchboard.service.context import Context
from switchboard.service.ports import KeyRotation


def rotate_signing_key(ctx: Context, *, retire_now: bool = False) -> KeyRotation:
    """A new key signs from now on; tokens signed by the old ones keep working until they
    expire, or stop at once with ``retire_now`` (a leaked key). Serving processes see the
    change within a second."""
    if ctx.keys is None:
        raise ProvisioningError("this process has no signing keys to rotate")
    return ctx.keys.rotate(ctx.clock.now(), retire_now=retire_now)
