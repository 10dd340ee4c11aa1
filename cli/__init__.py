"""The `mlpb` command line."""
