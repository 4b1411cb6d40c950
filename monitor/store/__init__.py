"""Where results persist: the GeoPackage inventory (landslides, their observations, runs and the
alert outbox, written in one transaction per run) and the run lock that keeps one writer."""
