"""Result files replaced whole, as rnnx's own programs replace theirs (docs/INPUTS.md).

Every file of a group is written and flushed into a private staging folder inside the target
folder, then renamed over its final name. An exception before the renames leaves every earlier
file as it was and removes the staging folder; a staging folder left by a killed process is
removed by the next write into that folder.
"""

import itertools
import os
import shutil
import signal

STAGING_PREFIX = ".rnnx-staging-"
_counter = itertools.count()


def _owner(name):
    """The pid in a staging folder's name, or None."""
    if not name.startswith(STAGING_PREFIX):
        return None
    pid, dash, _ = name[len(STAGING_PREFIX) :].partition("-")
    return int(pid) if dash and pid.isdigit() else None


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_staging(folder):
    for name in os.listdir(folder):
        pid = _owner(name)
        if pid is not None and pid != os.getpid() and not _alive(pid):
            shutil.rmtree(os.path.join(folder, name), ignore_errors=True)


def replace_files(folder, files):
    """Writes {name: text or bytes} into folder: all replaced, or on an exception none."""
    os.makedirs(folder, exist_ok=True)
    remove_stale_staging(folder)
    staging = os.path.join(folder, f"{STAGING_PREFIX}{os.getpid()}-py{next(_counter)}")
    os.mkdir(staging, 0o700)
    held = []
    previous = {}
    # Ctrl-C or a TERM during the renames acts after them, as in rnnx's own programs.
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        try:
            previous[sig] = signal.signal(sig, lambda s, _frame: held.append(s))
        except ValueError:  # not the main thread: signals cannot be held here
            break
    try:
        for name, content in files.items():
            if os.sep in name or name in ("", ".", ".."):
                raise ValueError(f"{name!r} is not a plain file name")
            data = content.encode() if isinstance(content, str) else content
            with open(os.path.join(staging, name), "xb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        for name in files:
            os.replace(os.path.join(staging, name), os.path.join(folder, name))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        for sig, handler in previous.items():
            signal.signal(sig, signal.SIG_DFL if handler is None else handler)
        if held:
            os.kill(os.getpid(), held[0])


def replace_file(path, content):
    """One file replaced whole (replace_files with its folder)."""
    folder, name = os.path.split(os.path.abspath(path))
    replace_files(folder, {name: content})
