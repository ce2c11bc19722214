"""The schema as it really is: one head, table renames, baselines for adopted databases, the ER
picture. Each module is imported on first use by the core."""
