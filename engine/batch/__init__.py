"""Batches: config files, plans, playing them (in process or in workers), statistics
and reports."""
