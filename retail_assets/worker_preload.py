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
import sys

import dagster as dg

from retail_assets.definitions import defs

defs().get_repository_def()
"""Resolved here, not only built: a step worker rebuilds its job from the repository, and resolving
it (binding resources, wrapping every sensor and schedule) is cached on the definitions object, so
each forked worker inherits it. Measured: a step's start did not change (0.32 vs 0.38 s median, in
the noise); what changed is that Dagster's own warning while resolving (its sensor decorator's beta
``owners`` parameter) is printed once per forkserver, not by every step (16 times for 4 days)."""


def _import_the_instance_storage() -> None:
    """Open and close the run's instance once, so that its storage modules are imported here.

    Only the imports are kept: ``dispose`` closes every engine and connection before any worker is
    forked (a connection must never be shared across a fork). Without ``DAGSTER_HOME`` (an
    ephemeral instance) there is nothing to warm up. A failure here (the database briefly
    unreachable, an instance file that is not the run's) is only a lost warm-up: an exception other
    than ImportError would kill the forkserver, and every step would fail with a broken pipe instead
    of the real error, which each step worker reports when it opens the instance itself."""
    if not os.environ.get("DAGSTER_HOME"):
        return
    try:
        with dg.DagsterInstance.get():
            pass
    except Exception as exc:  # a warm-up only: the step worker raises the real error
        print(f"worker_preload: the instance was not warmed up ({exc!r}); each step opens it itself", file=sys.stderr)


_import_the_instance_storage()
