"""Building blocks shared by the SQL metadata stores: connection pool, row mapping, URL parsing."""
