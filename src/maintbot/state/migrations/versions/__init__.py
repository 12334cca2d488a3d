"""One file per revision of the state DB's schema, oldest first: 0001, 0002, …"""
