"""The mlserve benchmark: mlserve against two baseline servers under wrk load. Run with `make bench`."""
