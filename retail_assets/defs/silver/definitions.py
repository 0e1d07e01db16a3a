"""Module-level export of the Silver assets for ``load_from_defs_folder``."""

from retail_assets.defs.silver.assets import SILVER_ASSETS

silver_assets = SILVER_ASSETS
