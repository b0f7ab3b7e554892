"""Moving a Robotoff deployment over: import its logos, backfill existing images."""
