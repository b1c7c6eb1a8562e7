"""The replication suite's shared library: config, seeding, data, models, results, claims and reports."""
