"""Where an index lives: a local folder, or a URI on object storage (s3://, gs://, az://).

LanceDB reads and writes both; what differs is how it is told about credentials and endpoints
(`storage_options`) and how one writer at a time is enforced (`vidmm.index.lock`).
"""

from __future__ import annotations

import os
from pathlib import Path

SCHEMES = ("s3", "gs", "az")


def is_uri(location: str | Path) -> bool:
    """Whether `location` names object storage (``s3://bucket/prefix/x.vidmm``), not a local folder."""
    return isinstance(location, str) and location.split("://", 1)[0] in SCHEMES and "://" in location


def normalized(location: str | Path) -> str | Path:
    """A URI kept as written (`Path` would fold its ``//``), a local folder as a `Path`."""
    return location.rstrip("/") if is_uri(location) else Path(location)


def storage_options(location: str | Path) -> dict[str, str]:
    """LanceDB's `storage_options` for `location`. Credentials come from the environment as
    LanceDB's object_store reads them (AWS_ACCESS_KEY_ID, GOOGLE_SERVICE_ACCOUNT, AZURE_STORAGE_…);
    what it does not read is an S3-compatible endpoint in boto3's variable (AWS_ENDPOINT_URL, as
    MinIO, Ceph or a local emulator are reached), and plain http to it, which it refuses unless told."""
    if not is_uri(location) or not str(location).startswith("s3://"):
        return {}
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    if not endpoint:
        return {}
    return {"aws_endpoint": endpoint, "allow_http": "true" if endpoint.startswith("http://") else "false"}
