"""Output files: checked before any work starts, and written whole or not at all."""

import contextlib
import os
import tempfile


def check_output(path, name, *, folder):
    """Raises ValueError, naming the option, unless `path` can be written: a folder (made
    later if missing), or a file in an existing folder. Checked before any work starts, so a
    typo does not cost a training run or a benchmark."""
    if folder and os.path.exists(path) and not os.path.isdir(path):
        raise ValueError(f"`{name}` must be a folder, got {path!r}, which is a file")
    if not folder and os.path.isdir(path):
        raise ValueError(f"`{name}` must be a file, got {path!r}, which is a folder")
    existing = os.path.abspath(path) if folder else os.path.dirname(os.path.abspath(path))
    if not folder and not os.path.isdir(existing):
        raise ValueError(f"`{name}` must be a file in an existing folder, got {path!r}")
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        raise ValueError(f"`{name}` cannot be made as a folder, got {path!r}: {existing!r} is a file")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ValueError(f"`{name}` cannot be written, got {path!r}: no write permission in {existing!r}")
    if not folder and os.path.exists(path) and not os.access(path, os.W_OK):
        raise ValueError(f"`{name}` cannot be written, got {path!r}: the file is read-only")


@contextlib.contextmanager
def replacing(path, *, suffix=".tmp"):
    """Yields a temporary path in `path`'s folder to write; when the block ends without an
    error it replaces `path` (os.replace), otherwise it is removed, so a failure never
    leaves a half-written output. `suffix` is the temporary file's (Keras wants .keras)."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, temporary = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(path)}.", suffix=suffix)
    os.close(fd)
    try:
        yield temporary
        os.chmod(temporary, _file_mode())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(temporary)
        raise


def write_file(path, content):
    """Writes `content` (bytes or str) to `path` whole or not at all (see `replacing`)."""
    with replacing(path) as temporary, open(temporary, "wb" if isinstance(content, bytes) else "w") as f:
        f.write(content)


def _file_mode():
    """The mode open() gives a new file under the current umask (mkstemp makes them 0600)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask
