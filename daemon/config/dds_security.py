"""``transport.security``: DDS Security (OMG DDS-Security 1.1, Cyclone's builtin plugins) for the daemon's DDS traffic.

Why: without it any process on the DDS domain, another local user's included, can publish /cmd_vel or the sensor
topics the policy reads (issue 21: another user's Twist reached the robot 50 of 50 times). With it, Cyclone
authenticates every participant against the identity CA and enforces the signed governance (which topics are
protected, whether they are encrypted) and permissions (who may publish and subscribe what) documents.

The files are checked at load: every one must exist, be a regular file and be readable by the daemon, so a
typo fails the start with the field's name instead of a participant that silently runs unprotected. Paths are
absolute: the service's working directory is not the profile's folder.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field, field_validator

from edgepilot.daemon.config.base import StrictModel

__all__ = ["DdsSecurityConfig"]


class DdsSecurityConfig(StrictModel):
    """The six documents of DDS Security's builtin plugins (PEM certificates and key, S/MIME-signed XML)."""

    identity_ca: Path = Field(description="PEM certificate of the identity CA that signed every participant's identity.")
    identity_certificate: Path = Field(description="This daemon's identity certificate (PEM), signed by identity_ca.")
    private_key: Path = Field(description="The private key of identity_certificate (PEM); keep it 0600, owned by the "
                              "service user.")
    permissions_ca: Path = Field(description="PEM certificate of the CA that signed governance and permissions.")
    governance: Path = Field(description="Signed governance document (.p7s): which topics are protected and how.")
    permissions: Path = Field(description="Signed permissions document (.p7s): what this identity may publish/subscribe.")

    @field_validator("*")
    @classmethod
    def _readable_file(cls, v: Path) -> Path:
        if not v.is_absolute():
            raise ValueError(f"{str(v)!r} must be an absolute path (the service's working directory is not the "
                             "profile's folder)")
        if not v.is_file():
            raise ValueError(f"{str(v)!r} does not exist or is not a regular file")
        if not os.access(v, os.R_OK):
            raise ValueError(f"{str(v)!r} is not readable by this user (uid {os.geteuid()})")
        return v
