# Two more desks: plan --all shows they get the next free ports, and that
# alice, bob and carol keep theirs.
desks = {
  alice = { hostname = "desk-alice", owner = "Alice" }
  bob   = { hostname = "desk-bob", owner = "Bob" }
  carol = { hostname = "desk-carol", owner = "Carol" }
  dave  = { hostname = "desk-dave", owner = "Dave" }
  erin  = { hostname = "DESK-ERIN", owner = "Erin" }
}
