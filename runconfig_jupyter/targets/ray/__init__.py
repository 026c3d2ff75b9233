"""The ray target: runs as Ray jobs on a cluster, spoken to through the Jobs REST API."""
