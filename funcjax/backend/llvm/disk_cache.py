"""The persistent compilation cache: object code on disk, keyed by what determines it.

The key hashes the LLVM IR, the host CPU name and features and the llvmlite version, so code
is never loaded on a machine or LLVM it was not compiled for. Loading an entry runs its native
code, so the cache trusts only what this user wrote:

- the directory must be a directory owned by this user and writable by no one else (created
  with mode 0700); otherwise it is refused with a warning and funcjax runs uncached;
- an entry is ``MAGIC | sha256(key) | HMAC-SHA256(secret, key | object) | object``, where the
  secret is 32 random bytes in ``.funcjax-key`` (mode 0600) inside the directory. An entry
  planted by anyone without the secret, or corrupt, truncated or foreign, is ignored and
  overwritten after recompiling.

An unusable directory (read-only, a file in its place, an uncreatable path) never fails a jit
call: it is warned about once and the call carries on uncached. Writes go to a temporary file
renamed into place, so readers never see half an entry.
"""

import hashlib
import hmac
import os
import secrets
import stat
import tempfile
import warnings

MAGIC = b"FUNCJAX-OBJ-2\n"
KEY_FILE = ".funcjax-key"
_DIGEST = 32
_secrets = {}  # directory -> secret, once the directory and its key file were checked
_warned = set()


def cache_key(ir_text, cpu, features, llvm_version):
    h = hashlib.sha256()
    for part in (ir_text, cpu, features, llvm_version):
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()


def _path(directory, key):
    return os.path.join(directory, f"{key}.fjo")


def _warn_once(directory, reason):
    if (directory, reason) not in _warned:
        _warned.add((directory, reason))
        warnings.warn(f"funcjax: not using the persistent compilation cache directory "
                      f"{directory!r}: {reason}. Compiling without it; set "
                      "jax_compilation_cache_dir to a private directory (mode 0700) to cache.",
                      RuntimeWarning, stacklevel=4)


def _untrusted(st, what):
    """Why a file or directory with stat ``st`` must not be trusted, or None."""
    if hasattr(os, "getuid") and st.st_uid != os.getuid():
        return f"{what} is owned by another user (uid {st.st_uid})"
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return f"{what} is writable by group or others (mode {stat.S_IMODE(st.st_mode):o})"
    return None


def _read_or_create_key(directory):
    path = os.path.join(directory, KEY_FILE)
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        secret = secrets.token_bytes(_DIGEST)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0),
                     0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(secret)
        return secret
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        reason = _untrusted(st, "its key file")
        if reason is None and (not stat.S_ISREG(st.st_mode) or st.st_mode & 0o077):
            reason = f"its key file is not a private file (mode {stat.S_IMODE(st.st_mode):o})"
        if reason:
            raise PermissionError(reason)
        secret = f.read()
    if len(secret) != _DIGEST:
        raise PermissionError("its key file is damaged")
    return secret


def _secret(directory):
    """The directory's secret if the directory is safe and usable, else None (warned once)."""
    if directory in _secrets:
        return _secrets[directory]
    try:
        os.makedirs(directory, mode=0o700, exist_ok=True)
        st = os.stat(directory, follow_symlinks=False)
        if not stat.S_ISDIR(st.st_mode):
            raise NotADirectoryError("it is not a directory")
        reason = _untrusted(st, "it")
        if reason:
            raise PermissionError(reason)
        if not os.access(directory, os.W_OK | os.X_OK):
            raise PermissionError("it is not writable")
        secret = _read_or_create_key(directory)
    except OSError as e:
        _warn_once(directory, str(e))
        return None
    _secrets[directory] = secret
    return secret


def _checksum(secret, key, obj):
    return hmac.new(secret, bytes.fromhex(key) + obj, hashlib.sha256).digest()


def load(directory, key):
    """The object bytes stored for ``key``, or None if absent or not trustworthy."""
    secret = _secret(directory)
    if secret is None:
        return None
    try:
        with open(_path(directory, key), "rb") as f:
            data = f.read()
    except OSError:
        return None
    head = len(MAGIC)
    if len(data) < head + 2 * _DIGEST or not data.startswith(MAGIC):
        return None
    stored_key = data[head:head + _DIGEST]
    checksum = data[head + _DIGEST:head + 2 * _DIGEST]
    obj = data[head + 2 * _DIGEST:]
    if stored_key != bytes.fromhex(key) or not hmac.compare_digest(
            _checksum(secret, key, obj), checksum):
        return None
    return obj


def store(directory, key, obj):
    secret = _secret(directory)
    if secret is None:
        return
    payload = MAGIC + bytes.fromhex(key) + _checksum(secret, key, obj) + obj
    try:
        fd, tmp = tempfile.mkstemp(dir=directory, suffix=".tmp")
    except OSError as e:
        _warn_once(directory, str(e))
        return
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
        os.replace(tmp, _path(directory, key))
    except OSError as e:
        _warn_once(directory, str(e))
        if os.path.exists(tmp):
            os.unlink(tmp)
