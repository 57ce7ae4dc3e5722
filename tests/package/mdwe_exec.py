"""tests/package/mdwe_exec.py — run a command under the kernel's
memory-deny-write-execute (PR_SET_MDWE, Linux >= 6.3), the closest thing
outside systemd to the unit's MemoryDenyWriteExecute=yes.

  mdwe_exec.py --check         exit 0 if a W+X mapping is refused here
  mdwe_exec.py CMD [ARGS...]   set MDWE, then exec CMD (inherited across exec)

It does not emulate systemd's seccomp filter exactly: systemd also refuses
any mprotect() adding PROT_EXEC; the kernel refuses it only for a mapping
that was never executable.
"""
import ctypes
import mmap
import os
import sys

PR_SET_MDWE = 65
PR_MDWE_REFUSE_EXEC_GAIN = 1

libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN, 0, 0, 0) != 0:
    sys.exit("mdwe_exec: prctl(PR_SET_MDWE): " + os.strerror(ctypes.get_errno()))
if sys.argv[1:] == ["--check"]:
    try:
        mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    except OSError:
        sys.exit(0)
    sys.exit("mdwe_exec: a W+X mapping was allowed")
os.execv(sys.argv[1], sys.argv[1:])
