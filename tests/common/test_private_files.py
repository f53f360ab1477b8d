"""Files in shared places: a private directory, exclusive 0600 files, and what another local user can try."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from edgepilot.common.private_files import UnsafePathError, create_private, private_dir, private_name

OTHER_UID = 65534  # nobody
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root, to act as another (unprivileged) local user")


@pytest.fixture
def shared_base():
    """A world-writable sticky directory, as /dev/shm and /tmp are, that another user can reach (tmp_path cannot:
    pytest makes it 0700)."""
    base = Path(tempfile.mkdtemp(prefix="edgepilot-shared-"))
    os.chmod(base, 0o1777)
    yield base
    shutil.rmtree(base, ignore_errors=True)


def as_other_user(code: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` as uid/gid 65534 with every credential dropped; it prints what it managed to do."""
    drop = f"import os\nos.setgroups([])\nos.setresgid({OTHER_UID}, {OTHER_UID}, {OTHER_UID})\n" \
           f"os.setresuid({OTHER_UID}, {OTHER_UID}, {OTHER_UID})\n"
    return subprocess.run([sys.executable, "-I", "-S", "-c", drop + code], capture_output=True, text=True, timeout=30,
                          cwd="/")


def test_the_private_directory_is_0700_and_its_files_0600(shared_base: Path) -> None:
    old = os.umask(0)  # the modes are meant exactly, whatever the umask would allow
    try:
        d = private_dir(environ={}, base=shared_base)
        f = d / private_name("edgepilot-test-")
        os.close(create_private(f, b"data"))
    finally:
        os.umask(old)
    assert d == shared_base / f"edgepilot-{os.geteuid()}"
    assert stat.S_IMODE(d.stat().st_mode) == 0o700
    assert stat.S_IMODE(f.stat().st_mode) == 0o600 and f.read_bytes() == b"data"
    assert private_dir(environ={}, base=shared_base) == d  # its own directory from an earlier run is reused


def test_a_planted_symlink_is_refused_and_its_target_untouched(tmp_path: Path) -> None:
    target = tmp_path / "root-owned.conf"
    target.write_text("precious\n")
    os.chmod(target, 0o644)
    link = tmp_path / "edgepilot-ingest-x.profile.json"
    link.symlink_to(target)
    with pytest.raises(UnsafePathError, match="already exists and was not created by this process"):
        create_private(link, b"{}")
    assert target.read_text() == "precious\n" and stat.S_IMODE(target.stat().st_mode) == 0o644
    assert link.is_symlink()  # refused, not removed: it is evidence
    plain = tmp_path / "left-by-someone"
    plain.write_text("theirs")
    with pytest.raises(UnsafePathError):
        create_private(plain)
    assert plain.read_text() == "theirs"


@pytest.mark.parametrize("make, match", [
    (lambda p: p.symlink_to(p.parent), "is a symlink"),
    (lambda p: p.write_text(""), "is not a directory"),
    (lambda p: (p.mkdir(), os.chmod(p, 0o777)), "others can list or create"),
    (lambda p: (p.mkdir(), os.chmod(p, 0o755)), "others can list or create"),
])
def test_an_unsafe_runtime_directory_is_refused(tmp_path: Path, make, match: str) -> None:
    make(tmp_path / f"edgepilot-{os.geteuid()}")
    with pytest.raises(UnsafePathError, match=match):
        private_dir(environ={}, base=tmp_path)
    run = tmp_path / "run"
    run.mkdir(mode=0o755)
    os.chmod(run, 0o755)  # what systemd makes without RuntimeDirectoryMode=
    with pytest.raises(UnsafePathError, match="RUNTIME_DIRECTORY"):
        private_dir(environ={"RUNTIME_DIRECTORY": str(run)})
    os.chmod(run, 0o711)
    assert private_dir(environ={"RUNTIME_DIRECTORY": f"{run}:/elsewhere"}) == run
    with pytest.raises(UnsafePathError, match="cannot be used: No such file or directory"):
        private_dir(environ={"RUNTIME_DIRECTORY": str(tmp_path / "gone")})


@needs_root
def test_another_user_can_neither_plant_nor_read(shared_base: Path) -> None:
    """The attacks of issue 21, as uid 65534: take the daemon's directory name first; plant a symlink or read the
    profile copy in the directory the daemon made. Every one refused."""
    # 1. Taking the directory name before the daemon's first start: the daemon refuses it.
    squat = as_other_user(f"import os\nos.mkdir({str(shared_base / f'edgepilot-{os.geteuid()}')!r}, 0o777)\n"
                          f"os.chmod({str(shared_base / f'edgepilot-{os.geteuid()}')!r}, 0o777)\nprint('made')")
    assert squat.stdout.strip() == "made", squat.stderr
    with pytest.raises(UnsafePathError, match=f"belongs to uid {OTHER_UID}"):
        private_dir(environ={}, base=shared_base)
    os.rmdir(shared_base / f"edgepilot-{os.geteuid()}")
    # 2. Once the daemon's directory exists: no name can be created in it, nothing in it can be read or listed.
    d = private_dir(environ={}, base=shared_base)
    spec = d / private_name("edgepilot-ingest-", ".profile.json")
    os.close(create_private(spec, b'{"secret": 1}'))
    attempts = {"symlink": f"os.symlink('/etc/shadow', {str(d / 'planted')!r})",
                "create": f"open({str(d / 'planted')!r}, 'x').close()",
                "read": f"open({str(spec)!r}).read()",
                "list": f"os.listdir({str(d)!r})"}
    for what, code in attempts.items():
        r = as_other_user(f"try:\n    {code}\n    print('done')\nexcept PermissionError:\n    print('refused')\n")
        assert r.stdout.strip() == "refused", (what, r.stdout, r.stderr)
    assert sorted(os.listdir(d)) == [spec.name]
