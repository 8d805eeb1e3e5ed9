"""Orders service: channel intake, review, the order state machine and net sales (ORD-*)."""
