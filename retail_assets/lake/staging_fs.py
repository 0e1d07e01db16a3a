"""Where staged files go: a pyarrow filesystem and the table's directory in it, for a lake URI.

Why: a day made in shards, and the dimension step's customers, write Parquet files next to their
table and commit them in one Delta transaction (``lake.staged``). deltalake reads and commits on any
object store from the URI and its storage options but writes no loose file; pyarrow writes files,
given a filesystem. This maps the project's lake roots — local paths, ``az://`` / ``azure://
CONTAINER/prefix`` and ``abfs[s]://CONTAINER@ACCOUNT.dfs.core.windows.net/prefix`` — and the
deltalake storage options (``RETAIL_ASSETS_STORAGE_OPTION_*``) onto pyarrow's ``LocalFileSystem``
and ``AzureFileSystem``, so both name the same files. A cluster's workers then stage into the shared
lake, not into a local directory only one machine sees.

An explicit endpoint (``azure_storage_endpoint``, as Azurite needs: ``http://HOST:PORT/ACCOUNT``)
or ``azure_storage_use_emulator`` addresses the service path-style, as the emulator does; a real
account is addressed by its name. Other stores (S3, GCS) are refused with the fix: there is no
emulator here to prove a mapping against, so they keep to one process per day.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

import pyarrow.fs as pafs

from retail_assets.lake.lake_errors import LakeError

AZURE_SCHEMES = frozenset({"az", "azure", "abfs", "abfss"})
EMULATOR_ACCOUNT = "devstoreaccount1"
EMULATOR_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
"""Azurite's published development account and key (object_store uses them for the emulator too)."""

_ALIASES = {
    "account_name": ("azure_storage_account_name", "account_name"),
    "account_key": ("azure_storage_account_key", "azure_storage_access_key", "azure_storage_master_key",
                    "account_key", "access_key", "master_key"),
    "sas_token": ("azure_storage_sas_token", "azure_storage_sas_key", "sas_token", "sas_key"),
    "client_id": ("azure_client_id", "azure_storage_client_id", "client_id"),
    "client_secret": ("azure_client_secret", "azure_storage_client_secret", "client_secret"),
    "tenant_id": ("azure_tenant_id", "azure_storage_tenant_id", "tenant_id"),
    "endpoint": ("azure_storage_endpoint", "azure_endpoint", "endpoint"),
    "use_emulator": ("azure_storage_use_emulator", "use_emulator"),
}  # fmt: skip
"""deltalake's (object_store's) names for each Azure setting, as ``RETAIL_ASSETS_STORAGE_OPTION_*``
gives them (lower-cased)."""


@dataclass(frozen=True)
class StagingTarget:
    """A table's directory on the filesystem its staged files are written to."""

    filesystem: pafs.FileSystem
    root: str

    @property
    def is_local(self) -> bool:
        return isinstance(self.filesystem, pafs.LocalFileSystem)

    def path(self, rel: str) -> str:
        return f"{self.root}/{rel}"

    def prepare_directory(self, rel: str) -> None:
        """Create the directory a file will be written to (object stores have none to create)."""
        if self.is_local:
            Path(self.path(rel)).parent.mkdir(parents=True, exist_ok=True)

    def size(self, rel: str) -> int:
        return int(self.filesystem.get_file_info(self.path(rel)).size)


def _option(lowered: Mapping[str, str], name: str) -> str | None:
    """The setting ``name`` under the first of its deltalake names given (``lowered``: lower-case keys)."""
    for key in _ALIASES[name]:
        if lowered.get(key):
            return lowered[key]
    return None


@lru_cache(maxsize=16)
def _azure_filesystem(pid: int, account: str, settings: tuple[tuple[str, str], ...]) -> pafs.AzureFileSystem:
    """One filesystem per process and configuration: a shard stages a file per table, and each new
    ``AzureFileSystem`` would probe the account (hierarchical namespace or not) again before its first
    write. ``pid`` keeps a forked child from using its parent's connections."""
    return pafs.AzureFileSystem(account, **dict(settings))


def _azure(uri: str, options: Mapping[str, str]) -> StagingTarget:
    options = {k.lower(): v for k, v in options.items()}
    parts = urlsplit(uri)
    container, _, host = parts.netloc.partition("@")
    account = _option(options, "account_name") or (host.split(".", 1)[0] if host else None)
    endpoint = _option(options, "endpoint")
    emulator = (_option(options, "use_emulator") or "").lower() == "true"
    if emulator and not endpoint:
        endpoint = f"http://127.0.0.1:10000/{EMULATOR_ACCOUNT}"
        account = account or EMULATOR_ACCOUNT
    if not container or not account:
        raise LakeError(
            f"cannot stage files for {uri}: the container or the storage account is missing; use "
            "az://CONTAINER/prefix with RETAIL_ASSETS_STORAGE_OPTION_AZURE_STORAGE_ACCOUNT_NAME, or "
            "abfss://CONTAINER@ACCOUNT.dfs.core.windows.net/prefix."
        )
    kwargs: dict[str, str] = {}
    key = _option(options, "account_key") or (EMULATOR_KEY if emulator else None)
    sas = _option(options, "sas_token")
    if key:
        kwargs["account_key"] = key
    elif sas:
        kwargs["sas_token"] = sas.lstrip("?")
    for name in ("client_id", "client_secret", "tenant_id"):
        value = _option(options, name)
        if value and not key and not sas:
            kwargs[name] = value
    if endpoint:
        split = urlsplit(endpoint)
        kwargs.update(
            blob_storage_authority=split.netloc, blob_storage_scheme=split.scheme or "https",
            dfs_storage_authority=split.netloc, dfs_storage_scheme=split.scheme or "https",
        )  # fmt: skip
    filesystem = _azure_filesystem(os.getpid(), account, tuple(sorted(kwargs.items())))
    return StagingTarget(filesystem, f"{container}/{parts.path.strip('/')}".rstrip("/"))


def _scheme(uri: str) -> str:
    return uri.split("://", 1)[0].lower() if "://" in uri else "file"


def stages(uri: str) -> bool:
    """Whether ``uri``'s store takes staged files (local or Azure); others are written in one piece."""
    return _scheme(uri) in {"file", *AZURE_SCHEMES}


def staging_target(uri: str, options: Mapping[str, str] | None = None) -> StagingTarget:
    """The filesystem and directory that ``uri``'s staged files are written to, or a ``LakeError``
    naming the fix for a store this project does not stage to."""
    scheme = _scheme(uri)
    if scheme == "file":
        return StagingTarget(pafs.LocalFileSystem(), str(Path(uri.removeprefix("file://"))))
    if scheme in AZURE_SCHEMES:
        return _azure(uri, options or {})
    raise LakeError(
        f"sharded writes stage files next to the table, and {scheme}:// lake roots are not supported for "
        f"that ({uri}); generate this lake with shards=1 (one process per day, delta.replace_partition) "
        "or use a local or Azure (az://, abfss://) lake root."
    )


__all__ = ["StagingTarget", "stages", "staging_target"]
