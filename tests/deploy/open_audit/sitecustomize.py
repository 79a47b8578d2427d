"""Test instrument: every Python process started with this directory on PYTHONPATH logs the files it opens.

With ``FEDREC_TEST_OPEN_LOG=<dir>`` set, the process writes ``<dir>/<pid>.log``: its command line, then one
line per ``open`` audit event (``sys.addaudithook``; Python's open, os.open, and fedrec's events-file reads,
which go through Python's open). ``tests/deploy`` reads the logs to check which processes opened which files.
"""

import os
import sys

_directory = os.environ.get("FEDREC_TEST_OPEN_LOG")
if _directory:
    _command = open("/proc/self/cmdline", "rb").read().replace(b"\0", b" ")
    _fd = os.open(os.path.join(_directory, f"{os.getpid()}.log"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.write(_fd, b"argv " + _command + b"\n")
    _busy = False

    def _log_open(event, args):
        global _busy
        if event != "open" or _busy or not args or not isinstance(args[0], (str, bytes, os.PathLike)):
            return
        _busy = True
        try:
            os.write(_fd, b"open " + os.fsencode(os.path.abspath(args[0])) + b"\n")
        finally:
            _busy = False

    sys.addaudithook(_log_open)
