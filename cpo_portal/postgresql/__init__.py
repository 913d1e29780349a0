"""The PostgreSQL database engine of the project: Django's, reading timestamps faster."""
