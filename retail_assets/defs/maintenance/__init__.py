"""Lake upkeep: the weekly maintenance asset (checkpoint interval, compaction, vacuum) and its job."""
