"""The persistent compilation cache: object code on disk, keyed by what determines it.

The key hashes the LLVM IR, the host CPU name and features and the llvmlite version, so code
is never loaded on a machine or LLVM it was not compiled for. An entry is
``MAGIC | sha256(key) | sha256(object) | object``; an entry whose header, key or checksum does
not match (corrupt, truncated, foreign) is ignored and overwritten after recompiling. Writes
go to a temporary file renamed into place, so readers never see half an entry.
"""

import hashlib
import os
import tempfile

MAGIC = b"FUNCJAX-OBJ-1\n"
_DIGEST = 32


def cache_key(ir_text, cpu, features, llvm_version):
    h = hashlib.sha256()
    for part in (ir_text, cpu, features, llvm_version):
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()


def _path(directory, key):
    return os.path.join(directory, f"{key}.fjo")


def load(directory, key):
    """The object bytes stored for ``key``, or None if absent or not trustworthy."""
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
    if stored_key != bytes.fromhex(key) or hashlib.sha256(obj).digest() != checksum:
        return None
    return obj


def store(directory, key, obj):
    os.makedirs(directory, exist_ok=True)
    payload = MAGIC + bytes.fromhex(key) + hashlib.sha256(obj).digest() + obj
    fd, tmp = tempfile.mkstemp(dir=directory, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
        os.replace(tmp, _path(directory, key))
    except OSError:
        if os.path.exists(tmp):
            os.unlink(tmp)
