"""The declarative description of the maintenance domain that both engines read."""
