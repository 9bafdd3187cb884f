"""Stock screens: levels, movements, adjustments and alerts (levels), transfers and
stocktakes (documents)."""
