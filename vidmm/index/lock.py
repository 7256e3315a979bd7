"""One writer at a time: an exclusive `flock` on a file inside a local index folder, a leased lock
object for an index on S3 (`writer_lock` picks).

flock is released by the kernel when its holder dies, so a `kill -9` never leaves a stale lock
behind (a lock *file* that merely exists would). Readers do not take it: LanceDB commits are
atomic, so they always see a whole version.

On S3 there is no kernel to notice a dead holder, so the lock is an object made with a conditional
put (``If-None-Match: *``: of two writers exactly one makes it) that holds a lease: its holder
rewrites it every third of the lease (``If-Match`` its last ETag), and a writer finding one not
rewritten for a whole lease, by the storage's own clock (its `Last-Modified` against the `Date` of
the answer: no two machines' clocks compared), takes it over with a conditional put of its own. A
`kill -9` of the writer therefore blocks the next one for at most one lease. gs:// and az:// have
the same conditional requests, but vidmm does not take a lock there: see the README.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import threading
import uuid
from pathlib import Path

from vidmm.index.errors import IndexLockedError
from vidmm.index.location import is_uri
from vidmm.index.tables import full_disk

LEASE_S = 60.0  # how long a lock object stays taken without being rewritten


def writer_lock(location: str | Path, lease_s: float = LEASE_S):
    """The one-writer lock of the index at `location`: `WriterLock` for a folder, `LeaseLock` for
    ``s3://``, none for other object stores (a writer there must be the only one: see the README)."""
    if not is_uri(location):
        return WriterLock(location)
    if str(location).startswith("s3://"):
        return LeaseLock(str(location), lease_s)
    return _NoLock()


class WriterLock:
    """``with WriterLock(folder): ...`` holds the folder's write lock or raises `IndexLockedError`."""

    def __init__(self, folder: str | Path):
        self.path = Path(folder) / "write.lock"
        self._fd: int | None = None

    def __enter__(self) -> WriterLock:
        with full_disk(str(self.path.parent), "its lock file"):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise IndexLockedError(
                f"{self.path.parent}: another process is adding to this index; wait for it to finish"
            ) from None
        self._fd = fd
        return self

    def __exit__(self, *exc) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


class _NoLock:
    def __enter__(self) -> _NoLock:
        return self

    def __exit__(self, *exc) -> None:
        pass


class LeaseLock:
    """``with LeaseLock("s3://bucket/prefix/x.vidmm"): ...`` holds the lock object
    ``prefix/x.vidmm/write.lock`` or raises `IndexLockedError` (see the module's docstring)."""

    def __init__(self, uri: str, lease_s: float = LEASE_S):
        import boto3  # here: only an index on S3 needs it

        bucket, _, prefix = uri.removeprefix("s3://").partition("/")
        self.uri, self.bucket, self.key, self.lease_s = uri, bucket, f"{prefix}/write.lock".lstrip("/"), lease_s
        self._s3 = boto3.client("s3")
        self._etag: str | None = None
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None

    def __enter__(self) -> LeaseLock:
        from botocore.exceptions import ClientError

        try:
            self._etag = self._put(IfNoneMatch="*")
        except ClientError as e:
            if not _precondition_failed(e):
                raise
            self._etag = self._take_expired()
        self._renewer = threading.Thread(target=self._renew, name="vidmm-lease", daemon=True)
        self._renewer.start()
        return self

    def __exit__(self, *exc) -> None:
        from botocore.exceptions import ClientError

        self._stop.set()
        if self._renewer is not None:
            self._renewer.join()
        try:
            self._s3.delete_object(Bucket=self.bucket, Key=self.key, IfMatch=self._etag)
        except ClientError as e:  # taken over after our lease ran out: the object is theirs now
            if not _precondition_failed(e):
                raise

    def _put(self, **condition) -> str:
        body = json.dumps({"owner": str(uuid.uuid4()), "host": socket.gethostname(), "pid": os.getpid()})
        return self._s3.put_object(Bucket=self.bucket, Key=self.key, Body=body.encode(), **condition)["ETag"]

    def _take_expired(self) -> str:
        """Take over a lock object whose lease ran out, or raise `IndexLockedError`."""
        from botocore.exceptions import ClientError

        found = self._s3.head_object(Bucket=self.bucket, Key=self.key)
        server_now = _server_time(found)
        age_s = (server_now - found["LastModified"]).total_seconds()
        if age_s < self.lease_s:
            raise IndexLockedError(
                f"{self.uri}: another process is adding to this index (its lease was renewed {age_s:.0f} s ago); "
                f"wait for it to finish, or {self.lease_s - age_s:.0f} s if it was killed"
            )
        try:
            return self._put(IfMatch=found["ETag"])
        except ClientError as e:
            if _precondition_failed(e):  # another writer took it over first
                raise IndexLockedError(f"{self.uri}: another process has just taken this index's lock") from None
            raise

    def _renew(self) -> None:
        """Rewrite the lock object every third of the lease, until released or taken over (after a
        pause longer than the lease: the ETag no longer matches, and renewing stops); a failed
        request is tried again a third of a lease later."""
        from botocore.exceptions import BotoCoreError, ClientError

        while not self._stop.wait(self.lease_s / 3):
            try:
                self._etag = self._put(IfMatch=self._etag)
            except ClientError as e:
                if _precondition_failed(e):
                    return
            except BotoCoreError:  # the storage out of reach: two more tries within the lease
                continue


def _precondition_failed(err) -> bool:
    return err.response.get("Error", {}).get("Code") in ("PreconditionFailed", "ConditionalRequestConflict")


def _server_time(response: dict):
    from email.utils import parsedate_to_datetime

    return parsedate_to_datetime(response["ResponseMetadata"]["HTTPHeaders"]["date"])
