"""Exec a command with memory-deny-write-execute on (prctl PR_SET_MDWE, Linux >= 6.3), as MemoryDenyWriteExecute=yes does.

Usage: python mdwe_exec.py PROGRAM [ARGS...]. The setting survives execve and
is inherited by children (the stall supervisor), so the daemon runs exactly
as the systemd unit would run it. Exits 3 if the kernel cannot do it.
"""

from __future__ import annotations

import ctypes
import os
import sys

PR_SET_MDWE = 65
PR_MDWE_REFUSE_EXEC_GAIN = 1

if __name__ == "__main__":
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN, 0, 0, 0) != 0:
        print(f"mdwe_exec: PR_SET_MDWE: {os.strerror(ctypes.get_errno())}", file=sys.stderr)
        sys.exit(3)
    os.execv(sys.argv[1], sys.argv[1:])
