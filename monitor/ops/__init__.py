"""Operating the monitor on top of the run: the daily scheduler, status, the review page and its
notebook session, the alert commands between runs, Dask scale-out and the demo's loopback inbox."""
