"""Aggregation of run directories into tables, figures and a report (never imports torch)."""
