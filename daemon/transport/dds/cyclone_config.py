"""The Cyclone DDS configuration the transport hands to its domain: the operator's (``CYCLONEDDS_URI``) plus, with
``transport.security``, a ``<Security>`` fragment naming Cyclone's builtin DDS Security plugins and the profile's
files.

Cyclone reads a configuration as a comma-separated list of file URIs and XML fragments, merged in order
(``//CycloneDDS/Domain/Security/{Authentication,AccessControl,Cryptographic}`` in its configuration reference), so
the operator's network settings stay as they are and only security is added. Without the plugins
(``libdds_security_auth``/``_ac``/``_crypto``, absent from some cyclonedds builds, the PyPI wheel among them) the
domain cannot be created and the transport fails to start: never a participant that quietly runs unprotected.
"""

from __future__ import annotations

import os
import threading
from typing import Any, Mapping
from xml.sax.saxutils import escape, quoteattr

from cyclonedds.core import DDSException
from cyclonedds.domain import Domain

from edgepilot.daemon.config.dds_security import DdsSecurityConfig

__all__ = ["security_fragment", "domain_config", "secure_domain", "PLUGIN_LIBRARIES"]

#: (element, library, init, finalize) for Cyclone's builtin plugins.
PLUGIN_LIBRARIES = (("Authentication", "dds_security_auth", "init_authentication", "finalize_authentication"),
                    ("AccessControl", "dds_security_ac", "init_access_control", "finalize_access_control"),
                    ("Cryptographic", "dds_security_crypto", "init_crypto", "finalize_crypto"))


def _uri(path: object) -> str:
    return escape(f"file:{path}")


def security_fragment(security: DdsSecurityConfig, domain_id: int | str = "any") -> str:
    """The ``<CycloneDDS><Domain><Security>`` fragment for ``security``'s files."""
    files = {"Authentication": (("IdentityCA", security.identity_ca), ("IdentityCertificate", security.identity_certificate),
                                ("PrivateKey", security.private_key)),
             "AccessControl": (("PermissionsCA", security.permissions_ca), ("Governance", security.governance),
                               ("Permissions", security.permissions)),
             "Cryptographic": ()}
    parts = []
    for element, lib, init, fini in PLUGIN_LIBRARIES:
        inner = "".join(f"<{tag}>{_uri(path)}</{tag}>" for tag, path in files[element])
        parts.append(f"<{element}><Library path={quoteattr(lib)} initFunction={quoteattr(init)} "
                     f"finalizeFunction={quoteattr(fini)}/>{inner}</{element}>")
    return (f'<CycloneDDS xmlns="https://cdds.io/config"><Domain Id={quoteattr(str(domain_id))}><Security>'
            + "".join(parts) + "</Security></Domain></CycloneDDS>")


def domain_config(security: DdsSecurityConfig, domain_id: int, environ: Mapping[str, str] | None = None) -> str:
    """What the transport passes to ``dds_create_domain``: ``CYCLONEDDS_URI``'s entries, then the security fragment."""
    env = os.environ if environ is None else environ
    base = env.get("CYCLONEDDS_URI", "").strip()
    return ",".join([p for p in (base, security_fragment(security, domain_id)) if p])


_DOMAINS: dict[int, tuple[Any, str]] = {}  # domain id -> (Domain, its config): one per process, as Cyclone has it
_DOMAINS_LOCK = threading.Lock()


def secure_domain(domain_id: int, security: DdsSecurityConfig) -> Any:
    """Create (once per process) the domain with DDS Security on (cyclone_config.py); RuntimeError if Cyclone cannot."""
    config = domain_config(security, domain_id)
    with _DOMAINS_LOCK:
        held = _DOMAINS.get(domain_id)
        if held is not None:
            if held[1] != config:
                raise RuntimeError(f"DDS domain {domain_id} is already configured differently in this process")
            return held[0]
        try:
            domain = Domain(domain_id, config)
        except DDSException as err:
            raise RuntimeError(f"DDS Security could not be enabled on domain {domain_id} ({err}): check the "
                               "transport.security files, and that this cyclonedds build has the security plugins "
                               "(libdds_security_auth, _ac, _crypto); refusing to run without it") from None
        _DOMAINS[domain_id] = (domain, config)
        return domain
