"""transport.security: the files validated at load, the <Security> fragment given to Cyclone, and a transport that
refuses to run unprotected when Cyclone cannot enable DDS Security."""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import cyclonedds
import pytest

from edgepilot.daemon.config.dds_security import DdsSecurityConfig
from tests.shipped_profile import shipped_profile_data
from edgepilot.daemon.config.profile import ProfileError, default_profile_path, parse_profile
from edgepilot.daemon.transport.dds.cyclone_config import domain_config, security_fragment

NS = {"c": "https://cdds.io/config"}
FIELDS = ("identity_ca", "identity_certificate", "private_key", "permissions_ca", "governance", "permissions")
_LIBS = [p for d in ("cyclonedds.libs", "cyclonedds/.libs") for p in (Path(cyclonedds.__file__).parents[1] / d).glob("*")]
PLUGINS = sorted(p.name for p in _LIBS if p.name.startswith("libdds_security_"))
needs_plugins = pytest.mark.skipif(
    len(PLUGINS) < 3, reason="this cyclonedds build ships no DDS Security plugins (no libdds_security_auth/_ac/_crypto "
    f"next to {', '.join(sorted({p.name for p in _LIBS if 'ddsc' in p.name})) or 'libddsc'}; its config parser rejects "
    "<Security> as an unknown element): a real secured exchange cannot be run here")


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    d = tmp_path / "sec & <keys>"  # characters XML must escape
    d.mkdir()
    out = {}
    for f in FIELDS:
        out[f] = d / f"{f}.pem"
        out[f].write_text("-----BEGIN CERTIFICATE-----\n")
    return out


def test_the_fragment_names_the_builtin_plugins_and_every_file(files: dict[str, Path]) -> None:
    sec = DdsSecurityConfig(**files)
    root = ET.fromstring(security_fragment(sec, 42))
    domain = root.find("c:Domain", NS)
    assert domain is not None and domain.get("Id") == "42"
    s = "c:Domain/c:Security/"
    libs = {e: root.find(f"{s}c:{e}/c:Library", NS) for e in ("Authentication", "AccessControl", "Cryptographic")}
    assert {e: lib.get("path") for e, lib in libs.items() if lib is not None} == {
        "Authentication": "dds_security_auth", "AccessControl": "dds_security_ac", "Cryptographic": "dds_security_crypto"}
    assert libs["Authentication"].get("initFunction") == "init_authentication"  # type: ignore[union-attr]
    where = {"IdentityCA": "identity_ca", "IdentityCertificate": "identity_certificate", "PrivateKey": "private_key"}
    for tag, field in where.items():
        assert root.findtext(f"{s}c:Authentication/c:{tag}", namespaces=NS) == f"file:{files[field]}"
    where = {"PermissionsCA": "permissions_ca", "Governance": "governance", "Permissions": "permissions"}
    for tag, field in where.items():
        assert root.findtext(f"{s}c:AccessControl/c:{tag}", namespaces=NS) == f"file:{files[field]}"


def test_the_operators_config_comes_first_and_stays(files: dict[str, Path]) -> None:
    sec = DdsSecurityConfig(**files)
    merged = domain_config(sec, 7, environ={"CYCLONEDDS_URI": "file:///etc/edgepilot/cyclonedds.xml"})
    first, rest = merged.split(",", 1)
    assert first == "file:///etc/edgepilot/cyclonedds.xml" and rest == security_fragment(sec, 7)
    assert domain_config(sec, 7, environ={}) == security_fragment(sec, 7)


def _profile(**security: object) -> dict:
    d = shipped_profile_data()
    d["engine"]["model"] = str(default_profile_path().parent / d["engine"]["model"])
    d["transport"] = {"kind": "dds", "security": {k: str(v) for k, v in security.items()}}
    return d


def test_security_files_are_checked_at_load(files: dict[str, Path]) -> None:
    assert parse_profile(_profile(**files)).transport.security is not None
    missing = {**files, "governance": files["governance"].with_name("nope.p7s")}
    with pytest.raises(ProfileError, match=r"transport.security.governance.*does not exist"):
        parse_profile(_profile(**missing))
    folder = {**files, "permissions": files["permissions"].parent}
    with pytest.raises(ProfileError, match=r"transport.security.permissions.*not a regular file"):
        parse_profile(_profile(**folder))
    relative = {**files, "private_key": Path("key.pem")}
    with pytest.raises(ProfileError, match=r"transport.security.private_key.*must be an absolute path"):
        parse_profile(_profile(**relative))
    d = _profile(**files)
    d["transport"]["kind"] = "auto"
    with pytest.raises(ProfileError, match="transport.security needs transport.kind: dds"):
        parse_profile(d)


REFUSE_CHILD = """
import sys
from edgepilot.daemon.config.dds_security import DdsSecurityConfig
from edgepilot.daemon.transport.dds.participant import DdsTransport
try:
    DdsTransport(int(sys.argv[1]), DdsSecurityConfig.model_validate_json(sys.argv[2]))
except Exception as err:
    print(type(err).__name__, err)
    sys.exit(3)
print("RUNNING UNPROTECTED")
"""


def test_a_transport_that_cannot_enable_security_refuses_to_run(files: dict[str, Path], dds_domain: int) -> None:
    """Here: no plugins in this build. Anywhere: these files are not certificates. Either way, no participant that
    quietly runs unprotected. In a process of its own, as the daemon is: a failed domain initialisation stays out
    of the test process's Cyclone state."""
    sec = DdsSecurityConfig(**files)
    r = subprocess.run([sys.executable, "-c", REFUSE_CHILD, str(dds_domain), sec.model_dump_json()],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 3 and "RUNNING UNPROTECTED" not in r.stdout, (r.stdout, r.stderr[-2000:])
    if len(PLUGINS) < 3:
        assert r.stdout.startswith("RuntimeError DDS Security could not be enabled"), r.stdout
        assert "refusing to run without it" in r.stdout


@needs_plugins
def test_a_secured_exchange_with_the_real_plugins() -> None:  # pragma: no cover - skipped on this build
    """Where the plugins exist, a CA, two identities, governance and permissions made with openssl belong here,
    with an unsecured participant whose Twist must not arrive. Not written: nothing here could run it."""
    pytest.skip("the plugins are present but the secured exchange is not written yet (no build here to run it on)")
