"""Files and runs: the input-error type, atomic writers, run manifests, processes, ranks and devices."""
