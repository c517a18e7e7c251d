"""One module per recurrent cell; each defines its fast and reference cores and registers them."""
