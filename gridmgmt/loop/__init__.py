"""The joint-work loop: tasks from the shared log, inspection cycles, responsibility, the overview page."""
