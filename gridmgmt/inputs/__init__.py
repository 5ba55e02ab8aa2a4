"""Inputs: loading and checking a district's files (retailers, tables, events) into a District."""
