"""Runs a command that writes to a FIFO while this script reads it.

usage: through_fifo.py FIFO COPY -- COMMAND...
Creates FIFO, copies everything written to it into COPY, runs COMMAND, and
exits with its status, or with 3 if FIFO is no longer a FIFO afterwards.
"""
import os
import stat
import subprocess
import sys
import threading

fifo, copy = sys.argv[1], sys.argv[2]
cmd = sys.argv[sys.argv.index("--") + 1:]
os.mkfifo(fifo)


def drain():
    with open(fifo, "rb") as src, open(copy, "wb") as dst:
        dst.write(src.read())


reader = threading.Thread(target=drain)
reader.start()
rc = subprocess.call(cmd)
if rc != 0:
    # unblock the reader if the command never opened the FIFO
    with open(fifo, "wb"):
        pass
reader.join()
if not stat.S_ISFIFO(os.lstat(fifo).st_mode):
    print("through_fifo: %s is no longer a FIFO" % fifo, file=sys.stderr)
    sys.exit(3)
sys.exit(rc)
