"""Run a Python script or module, then write its peak resident memory to a file.

    python -m bench.peak OUT_FILE SCRIPT.py ARGS...
    python -m bench.peak OUT_FILE -m MODULE ARGS...

OUT_FILE receives the peak RSS in bytes (the kernel's VmHWM) when the program exits, by
any route, os._exit included. A child's ru_maxrss cannot be used: Linux carries the high-water mark of the
process that forked it across exec, so a child of a large process would report at least
the parent's size. VmHWM belongs to the memory map, which exec replaces.
"""

import atexit
import os
import runpy
import sys


def peak_rss() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def main() -> None:
    out, rest = sys.argv[1], sys.argv[2:]

    def write_report() -> None:
        with open(out, "w") as report:
            report.write(str(peak_rss()))

    atexit.register(write_report)
    leave = os._exit

    def report_and_leave(code: int) -> None:  # padiff-gen leaves by os._exit
        write_report()
        leave(code)

    os._exit = report_and_leave
    if rest[0] == "-m":
        sys.argv = rest[1:]
        runpy.run_module(rest[1], run_name="__main__", alter_sys=True)
    else:
        sys.argv = rest
        runpy.run_path(rest[0], run_name="__main__")


if __name__ == "__main__":
    main()
