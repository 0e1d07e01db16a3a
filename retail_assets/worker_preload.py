"""Preloaded by the forkserver of ``sharded_generation_job``'s executor: builds the code location once.

Why: every step worker the multiprocess executor forks starts by reconstructing the job from the code
location, and building the definitions costs about a second per process. Importing this module in the
forkserver builds them there (``definitions.defs`` memoises per environment), so each forked worker
inherits the finished definitions instead of building its own. It lives outside ``defs/`` because the
defs folder is what ``defs()`` walks.
"""

from retail_assets.definitions import defs

defs()
