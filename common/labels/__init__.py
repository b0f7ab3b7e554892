"""Logo annotation and label propagation: values, taxonomies, the vote and its calibration."""
