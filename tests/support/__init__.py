"""What the unit tests share: the template reader, fixture events, moto's @connections log."""
