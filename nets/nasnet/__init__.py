"""NASNet-A and PNASNet-5: searched-cell networks sharing one cell library."""
