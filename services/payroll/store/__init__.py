"""The payroll database: tables, queries and migrations of this service only."""
