"""Keys, certificates and stores: no I/O, no clock (the time is a parameter)."""
