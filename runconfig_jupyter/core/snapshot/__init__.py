"""Source directory -> manifest -> content-addressed archive: what a run's code is, frozen at submit."""
