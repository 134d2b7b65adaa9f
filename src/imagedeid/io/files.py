"""Everything that touches the disk: walking inputs, reading, atomic writes, key files.

Outputs are written to a staging file on the same file system and then linked into
place, so OUTPUT never holds a half-written file and an existing file is never
overwritten. Inputs are opened read-only and never modified.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from imagedeid.errors import InputError, KeyFileError, OutputError
from imagedeid.pseudonym import ProjectKey, generate_secret

KEY_ENV = "IMAGEDEID_KEY"
KEY_FILE_ENV = "IMAGEDEID_KEY_FILE"


def iter_inputs(paths: list[Path], exclude: list[Path]) -> Iterator[str]:
    """Files under ``paths`` (folders walked recursively, sorted, symlinked folders not
    followed), as absolute paths, minus the ``exclude`` trees; each file once."""
    excluded = {str(p.resolve()) for p in exclude}
    seen: set[str] = set()
    for root in paths:
        real_root = root.resolve()
        if real_root.is_file():
            candidates: Iterator[str] = iter([str(real_root)])
        elif real_root.is_dir():
            candidates = _walk(str(real_root), excluded)
        else:
            raise InputError(f"{root}: no such file or folder")
        for path in candidates:
            if path not in seen:
                seen.add(path)
                yield path


def _walk(root: str, excluded: set[str]) -> Iterator[str]:
    """Symlinked folders are followed, each real folder visited once (no loops)."""
    if root in excluded:
        return
    visited: set[str] = set()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        real = os.path.realpath(dirpath)
        if real in visited or real in excluded:
            dirnames[:] = []
            continue
        visited.add(real)
        dirnames[:] = sorted(d for d in dirnames if os.path.join(dirpath, d) not in excluded)
        for name in sorted(filenames):
            yield os.path.join(dirpath, name)


def read_bytes(path: str | Path) -> bytes:
    try:
        fd = os.open(path, os.O_RDONLY | _CLOEXEC)
    except OSError as exc:
        raise InputError(
            f"the file cannot be read ({exc.strerror or type(exc).__name__})"
        ) from None  # no path: paths can hold names
    try:
        return _read_all(fd)
    except OSError as exc:
        raise InputError(
            f"the file cannot be read ({exc.strerror or type(exc).__name__})"
        ) from None
    finally:
        os.close(fd)


def _read_all(fd: int) -> bytes:
    """Everything up to end of file, in as few reads as the size allows (the size is
    a hint: a file that grows or shrinks meanwhile is still read to its end)."""
    size = os.fstat(fd).st_size
    first = os.read(fd, size + 1 if size > 0 else _CHUNK)
    if not first:
        return first
    parts = [first]
    while chunk := os.read(fd, _CHUNK):
        parts.append(chunk)
    return first if len(parts) == 1 else b"".join(parts)


_CHUNK = 1 << 20
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


def file_signature(path: str | Path) -> tuple[str, int, int]:
    """(absolute path, size, mtime): what tells a rerun that an input is unchanged.
    Raises OSError for anything but a regular file (a FIFO would block the reader)."""
    st = os.stat(path)
    if not stat.S_ISREG(st.st_mode):
        raise OSError(errno.EINVAL, "not a regular file")
    return (str(path), st.st_size, st.st_mtime_ns)


_KNOWN_DIRS: set[str] = set()  # folders this process has already made (saves syscalls)


def _ensure_dir(path: str) -> None:
    """``Path(path).mkdir(parents=True, exist_ok=True)``, remembering what exists."""
    if path in _KNOWN_DIRS:
        return
    try:
        _mkdir(path)
    except FileNotFoundError:
        parent = os.path.dirname(path)
        if parent == path:
            raise
        _ensure_dir(parent)
        _mkdir(path)
    if len(_KNOWN_DIRS) > 10_000:
        _KNOWN_DIRS.clear()
    _KNOWN_DIRS.add(path)


def _mkdir(path: str) -> None:
    try:
        os.mkdir(path)
    except FileNotFoundError:
        raise
    except OSError:
        if not os.path.isdir(path):
            raise


def write_new_file(
    final: str | Path, data: bytes, staging: str | Path, fsync: bool = False
) -> bool:
    """Atomically create ``final`` with ``data``. False if it already exists (not touched).

    The bytes go into a file with no name (Linux O_TMPFILE) that is then linked in
    whole: a crash leaves nothing behind, and creating one directory entry costs the
    file system less than three. Where the file system cannot, they go through a named
    file in ``staging`` (which the next run clears) and the same final link."""
    final, staging = os.fspath(final), os.fspath(staging)
    try:
        try:
            return _link_new(final, data, staging, fsync)
        except FileNotFoundError:  # a folder vanished since this process made it
            _KNOWN_DIRS.clear()
            return _link_new(final, data, staging, fsync)
    except OSError as exc:
        raise OutputError(
            f"{final}: cannot be written ({exc.strerror or type(exc).__name__})"
        ) from None


_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | _CLOEXEC
_O_TMPFILE = getattr(os, "O_TMPFILE", 0)
# Unnamed files need O_TMPFILE and /proc to link them by; one refusal turns them off.
_UNNAMED = [bool(_O_TMPFILE) and os.path.isdir("/proc/self/fd")]
_NO_UNNAMED = (errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL, errno.ENOTSUP)


def _write_all(fd: int, data: bytes, fsync: bool) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
    if fsync:
        os.fsync(fd)


def _link_new(final: str, data: bytes, staging: str, fsync: bool) -> bool:
    folder, name = os.path.split(final)
    _ensure_dir(folder)
    if _UNNAMED[0]:
        try:
            fd = os.open(folder, _O_TMPFILE | os.O_WRONLY | _CLOEXEC, 0o666)
        except OSError as exc:
            if exc.errno not in _NO_UNNAMED:
                raise
            _UNNAMED[0] = False  # this file system has no unnamed files: stage them
        else:
            try:
                _write_all(fd, data, fsync)
                try:  # linkat(AT_SYMLINK_FOLLOW): src_dir_fd makes os.link use it
                    os.link(f"/proc/self/fd/{fd}", final, src_dir_fd=fd)
                except FileExistsError:  # never overwrite
                    return False
                return True
            finally:
                os.close(fd)
    _ensure_dir(staging)
    tmp = os.path.join(staging, f"{name}.{os.getpid()}.tmp")
    try:
        fd = os.open(tmp, _NEW_FILE, 0o666)
        try:
            _write_all(fd, data, fsync)
        finally:
            os.close(fd)
        try:
            os.link(tmp, final)  # fails if final exists: never overwrite
        except FileExistsError:
            return False
        except OSError as exc:
            if exc.errno not in (errno.EXDEV, errno.EPERM, errno.ENOTSUP):
                raise
            return _move_new(tmp, final, staging)
        return True
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def _move_new(tmp: str, final: str, staging: str) -> bool:
    """Rename ``tmp`` to ``final`` unless ``final`` exists, on a file system without
    hard links (exFAT or FAT on a USB drive, some network shares). Checking first and
    renaming after is a race: two workers writing one name would both succeed, and one
    output would vanish without a word. So the rename itself refuses an existing name
    (renameat2 RENAME_NOREPLACE); where the file system cannot do that either, the
    writers on this machine take turns under a lock in the staging folder."""
    moved = _rename_noreplace(tmp, final)
    if moved is not None:
        return moved
    import fcntl

    fd = os.open(os.path.join(staging, ".rename.lock"), os.O_RDWR | os.O_CREAT | _CLOEXEC, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError as exc:
            # A share without locks (CIFS mounted nobrl): check, then rename, as the
            # last way left. Writers rarely share a name: one SOP Instance UID in two
            # inputs of different content.
            if exc.errno not in _NO_LOCKS:
                raise
        if os.path.lexists(final):
            return False
        os.replace(tmp, final)
        return True
    finally:
        os.close(fd)  # releases the lock


_RENAME_NOREPLACE = 1  # linux/fs.h
_AT_FDCWD = -100
# EPERM too: some sandboxes (seccomp profiles, FUSE) refuse system calls they do not know.
_NO_NOREPLACE = (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EPERM)
_NO_LOCKS = (errno.ENOLCK, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS)
_RENAMEAT2: list[Any] = []  # [the libc function or None], found on first use


def _rename_noreplace(src: str, dst: str) -> bool | None:
    """True when renamed, False when ``dst`` exists (nothing changed), None when this
    platform or file system has no exclusive rename."""
    if not _RENAMEAT2:
        _RENAMEAT2.append(_find_renameat2())
    call = _RENAMEAT2[0]
    if call is None:
        return None
    if call(_AT_FDCWD, os.fsencode(src), _AT_FDCWD, os.fsencode(dst), _RENAME_NOREPLACE) == 0:
        return True
    import ctypes

    err = ctypes.get_errno()
    if err == errno.EEXIST:
        return False
    if err in _NO_NOREPLACE:
        return None
    raise OSError(err, os.strerror(err), dst)


def _find_renameat2() -> Any:
    import ctypes

    try:
        call = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError, TypeError):  # not Linux, or a C library before glibc 2.28
        return None
    call.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    call.restype = ctypes.c_int
    return call


def make_dir(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)


def reset_dir(path: Path) -> None:
    """Remove a folder of this tool's own scratch files (the staging area) entirely."""
    shutil.rmtree(path, ignore_errors=True)


def is_nonempty_file(path: Path) -> bool:
    try:
        return path.stat().st_size > 0
    except OSError:
        return False


def replace_text(path: Path, text: str | None) -> None:
    """Write ``text`` to ``path`` atomically, or remove ``path`` when ``text`` is None."""
    if text is None:
        path.unlink(missing_ok=True)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_json_atomic(path: Path, doc: Any) -> None:
    replace_text(path, json.dumps(doc, indent=2, sort_keys=True) + "\n")


def read_text(path: Path, what: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"{path}: the {what} cannot be read ({exc.strerror})") from None


# --- keys -------------------------------------------------------------------------------


def create_key_file(path: Path) -> ProjectKey:
    """Create a new key file with mode 0600. Refuses to overwrite an existing one."""
    key = ProjectKey(generate_secret())
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise KeyFileError(f"{path}: already exists; a key is never overwritten") from None
    except OSError as exc:
        raise KeyFileError(f"{path}: cannot be created ({exc.strerror})") from None
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(key.encode())
    os.chmod(path, 0o600)
    return key


def load_key_file(path: Path) -> ProjectKey:
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="ascii")
    except FileNotFoundError:
        raise KeyFileError(
            f"{path}: no such key file; create one with 'imagedeid keys new {path}'"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise KeyFileError(f"{path}: the key file cannot be read ({type(exc).__name__})") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyFileError(f"{path}: the key file is readable by others; run 'chmod 600 {path}'")
    return ProjectKey.decode(text, str(path))


def resolve_key(
    key_file: Path | None, environ: dict[str, str], default_path: Path
) -> tuple[ProjectKey, str, bool]:
    """The key from --key-file, then $IMAGEDEID_KEY_FILE, then $IMAGEDEID_KEY, else a new
    key file at ``default_path``. Returns (key, where it came from, created)."""
    if key_file is not None:
        return load_key_file(key_file), str(key_file), False
    if environ.get(KEY_FILE_ENV):
        path = Path(environ[KEY_FILE_ENV])
        return load_key_file(path), str(path), False
    if environ.get(KEY_ENV):
        return ProjectKey.decode(environ[KEY_ENV], f"${KEY_ENV}"), f"${KEY_ENV}", False
    if default_path.exists():
        return load_key_file(default_path), str(default_path), False
    return create_key_file(default_path), str(default_path), True
