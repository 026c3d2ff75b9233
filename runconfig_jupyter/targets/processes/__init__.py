"""Process machinery shared by targets that start local processes: the supervisor, rank groups, MPI launchers."""
