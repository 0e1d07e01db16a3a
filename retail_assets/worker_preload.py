"""Preloaded by the forkserver of ``sharded_generation_job``'s executor: what every step worker needs
before its step starts, done once.

Why: the multiprocess executor forks each step worker (plan, each shard step, commit) from this
server, and a worker starts by reconstructing the job from the code location and opening the Dagster
instance. Building the definitions costs about a second per process, and opening the instance about
0.6 s more, nearly all of it importing the storage's modules (SQLAlchemy, alembic, the SQLite or
PostgreSQL storage classes). Both are done here once (``definitions.defs`` memoises per environment),
so each forked worker inherits the finished definitions and the imported storage instead of paying
for them in turn: the plan, shard and commit steps run one after another, so what a worker's start
costs is serial time in every run. It lives outside ``defs/`` because the defs folder is what
``defs()`` walks.
"""

import os

import dagster as dg

from retail_assets.definitions import defs

defs()


def _import_the_instance_storage() -> None:
    """Open and close the run's instance once, so that its storage modules are imported here.

    Only the imports are kept: ``dispose`` closes every engine and connection before any worker is
    forked (a connection must never be shared across a fork). Without ``DAGSTER_HOME`` (an
    ephemeral instance) there is nothing to warm up."""
    if os.environ.get("DAGSTER_HOME"):
        with dg.DagsterInstance.get():
            pass


_import_the_instance_storage()
