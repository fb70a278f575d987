"""Which scored rows a job keeps: the rules, the total order, the distributed cut, the
histograms it is found from, and token counts. No Ray, no compression."""
