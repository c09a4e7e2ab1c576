"""What the protocols' results look like to a reader: tables and plots of the u1-u5 benchmark
(``folds``), the new-user measurement's goals and table (``new_users``), generated tables written
between markers in README and docs (``markers``), and executed notebooks made fit to commit
(``publish``)."""
