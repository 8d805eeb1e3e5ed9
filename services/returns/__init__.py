"""Returns service: return receipt, inspection, restocking and refunds (RET-*)."""
